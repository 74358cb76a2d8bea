"""The OpenAI Batch API for the scripted server: /v1/files (upload, content) and /v1/batches.

A batch is answered line by line by the server's own chat handler when it is created; it
reports `in_progress` for `polls_before_done` retrievals first, like a real batch that takes
a while. Output lines have the OpenAI (and `vllm run-batch`) shape.
"""
from __future__ import annotations

import email.parser
import json
import threading


class BatchEndpoints:
    def __init__(self, server):
        self.server = server
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.polls_before_done = 0
        self.fail_ids: set[str] = set()  # custom_ids answered with an error line
        self._polls: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def owns(path: str) -> bool:
        return "/files" in path or "/batches" in path

    def post(self, path: str, raw: bytes, headers) -> tuple[int, dict]:
        if path.endswith("/files"):
            content = _multipart_file(raw, headers.get("Content-Type", ""))
            with self._lock:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = content
            return 200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": 0,
                         "filename": "input.jsonl", "purpose": "batch", "status": "processed"}
        if path.endswith("/batches"):
            return 200, self._create(json.loads(raw))
        if path.endswith("/cancel"):
            batch = self.batches[path.split("/")[-2]]
            batch["status"] = "cancelled"
            return 200, batch
        return 404, {"error": {"message": f"no route {path}"}}

    def get(self, path: str) -> tuple[int, dict | bytes]:
        parts = path.rstrip("/").split("/")
        if parts[-1] == "content" and parts[-2] in self.files:
            return 200, self.files[parts[-2]]
        if parts[-2] == "batches" and parts[-1] in self.batches:
            batch = self.batches[parts[-1]]
            with self._lock:
                self._polls[batch["id"]] = self._polls.get(batch["id"], 0) + 1
                done = self._polls[batch["id"]] > self.polls_before_done
            if batch["status"] == "in_progress" and done:
                batch.update(batch.pop("_final"))
            return 200, {k: v for k, v in batch.items() if not k.startswith("_")}
        return 404, {"error": {"message": f"no route {path}"}}

    def _create(self, body: dict) -> dict:
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].splitlines() if line.strip()]
        output, errors = [], []
        for line in lines:
            if line["custom_id"] in self.fail_ids:
                errors.append({"id": f"r-{line['custom_id']}", "custom_id": line["custom_id"], "response": None,
                               "error": {"code": "server_error", "message": "scripted batch failure"}})
                continue
            status, payload = self.server.handle(line["url"], line["body"])
            output.append({"id": f"r-{line['custom_id']}", "custom_id": line["custom_id"],
                           "response": {"status_code": status, "request_id": "", "body": payload}, "error": None})
        with self._lock:
            batch_id = f"batch_{len(self.batches) + 1}"
            out_id, err_id = f"file-out-{batch_id}", f"file-err-{batch_id}"
            self.files[out_id] = "".join(json.dumps(o) + "\n" for o in output).encode()
            if errors:
                self.files[err_id] = "".join(json.dumps(e) + "\n" for e in errors).encode()
            batch = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "in_progress", "output_file_id": None, "error_file_id": None, "created_at": 0,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "_final": {"status": "completed", "output_file_id": out_id,
                           "error_file_id": err_id if errors else None,
                           "request_counts": {"total": len(lines), "completed": len(output),
                                              "failed": len(errors)}},
            }
            self.batches[batch_id] = batch
        return {k: v for k, v in batch.items() if not k.startswith("_")}


def _multipart_file(raw: bytes, content_type: str) -> bytes:
    message = email.parser.BytesParser().parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    for part in message.get_payload():
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True)
    raise ValueError("no file part in the upload")
