"""Ingest: whatever a researcher collects, as clean Markdown notes in raw/.

Each source ends as created / updated / unchanged / failed; a failure is one line naming
the source and the reason, and leaves raw/ as it was. The other sources go on.
"""
from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import unquote, urlparse

from kbc.errors import KbcError
from kbc.llm import LLM, BackendError, ItemFailed, Prompt, Request, Templates
from kbc.ingest.fetch import FetchError, fetch
from kbc.ingest.files import (DATA_EXTENSIONS, IMAGE_EXTENSIONS, TEXT_EXTENSIONS, convert_dataset,
                              convert_image, convert_repository, convert_text_note, is_repository)
from kbc.ingest.notes import existing_notes, store
from kbc.ingest.pdf import convert_pdf, looks_like_pdf
from kbc.ingest.web import IMAGE_TYPES, convert_html, image_name
from kbc.vault import Vault
from kbc.vault.files import inside, walk_files

MAX_BYTES = 50 * 1024 * 1024
MAX_IMAGE_BYTES = 20 * 1024 * 1024
TIMEOUT = 30.0
DEADLINE = 120.0
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
DESCRIBE_TEMPLATE = "prompts/describe_image.j2"


@dataclass
class IngestResult:
    source: str
    status: str  # created | updated | unchanged | failed | skipped (a link or the vault: not read)
    note: str = ""  # path relative to the vault
    error: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def image_describer(llm: LLM, templates: Templates) -> Callable[[bytes, str, str], str]:
    """Describes an image with a model that reads images (stage `ingest`, in the ledger)."""
    def describe(data: bytes, name: str, source: str) -> str:
        mime = mimetypes.guess_type(name)[0] or "image/png"
        built = templates.prompt(DESCRIBE_TEMPLATE, name=name, source=source)
        prompt = Prompt(built.stable_messages, built.context, built.item, built.version,
                        images=(f"data:{mime};base64," + base64.b64encode(data).decode(),))
        return llm.complete(Request("ingest", prompt, None, 400, label=f"{source}: image description")).text.strip()

    return describe


@dataclass
class Ingester:
    vault: Vault
    max_bytes: int = MAX_BYTES
    timeout: float = TIMEOUT  # seconds one read may wait
    deadline: float = DEADLINE  # seconds a whole fetch may take (a trickling server)
    # (image bytes, file name, source) -> description; None when the model reads no images
    describe: Callable[[bytes, str, str], str] | None = None

    def __post_init__(self):
        self.known = existing_notes(self.vault)

    def ingest_all(self, sources: Iterable[str],
                   on_result: Callable[[IngestResult], None] | None = None) -> list[IngestResult]:
        results = []
        for source in sources:
            for result in self.ingest(source):
                results.append(result)
                if on_result:
                    on_result(result)
        return results

    def ingest(self, source: str) -> list[IngestResult]:
        source = source.strip()
        if not source:
            return []
        scheme = urlparse(source).scheme
        if scheme in ("http", "https"):
            return [self._one(source, lambda: self._from_url(source))]
        if scheme == "file":  # named by the person, so read as the local path it is
            source = unquote(urlparse(source).path)
        elif "://" in source:
            return [IngestResult(source, "failed", error=f"{source}: unsupported URL scheme {scheme}:// "
                                                         "(kbc fetches http:// and https://)")]
        path = Path(source).expanduser()
        refused = self._refused(path)
        if refused:
            return [IngestResult(source, "failed", error=refused)]
        if path.is_dir():
            if is_repository(path):
                return [self._one(source, lambda: ([convert_repository(path, str(path.resolve()))], []))]
            return self._folder(path)
        return [self._one(source, lambda: self._from_file(path, path.parent))]

    def _refused(self, path: Path) -> str:
        """Why a local path is not read: it is (in) the vault, or a link out of its folder."""
        if inside(path, self.vault.root):
            return (f"{path}: inside the vault; kbc ingests sources from outside it "
                    "(notes already in raw/ are compiled as they are)")
        if path.is_symlink() and not inside(path, path.absolute().parent):
            return f"{path}: a link to {path.resolve()}, outside its folder; ingest the target itself"
        return ""

    def _folder(self, folder: Path) -> list[IngestResult]:
        """Every file of a folder; links out of it, and the vault itself if it lies inside, are
        skipped with one line each (never read, never sent anywhere)."""
        skipped: list[str] = []
        files = walk_files(folder, within=folder, skipped=skipped)
        in_vault = [f for f in files if inside(f, self.vault.root)]
        results = [IngestResult(str(folder), "skipped", error=line) for line in skipped]
        if in_vault:
            results.append(IngestResult(str(folder), "skipped", error=(
                f"{self.vault.root}: the vault itself ({len(in_vault)} files) is not ingested into itself")))
        for child in files:
            if child not in in_vault:
                results.append(self._one(str(child), lambda child=child: self._from_file(child, folder)))
        return results

    def _one(self, source: str, convert) -> IngestResult:
        try:
            notes, warnings = convert()
            status, path = store(self.vault, notes[0], self.known)
            return IngestResult(source, status, self.vault.rel(path), warnings=warnings)
        except KbcError as exc:
            return IngestResult(source, "failed", error=str(exc))
        except OSError as exc:
            return IngestResult(source, "failed", error=f"{source}: {exc.strerror or exc}")
        except RecursionError:
            return IngestResult(source, "failed", error=f"{source}: nested too deeply to read")
        except Exception as exc:  # one bad source never stops the others
            return IngestResult(source, "failed", error=f"{source}: could not be converted "
                                                        f"({type(exc).__name__}: {str(exc)[:200]})")

    # -- kinds ------------------------------------------------------------------------------

    def _from_url(self, url: str):
        fetched = fetch(url, self.max_bytes, self.timeout, self.deadline)
        kind = fetched.content_type
        if kind == "application/pdf" or looks_like_pdf(fetched.data):
            return [convert_pdf(fetched.data, url, _stem(url))], []
        if kind.startswith("image/"):
            return self._image(fetched.data, Path(image_name(url, kind)), url)
        if kind in ("text/html", "application/xhtml+xml") or not kind:
            note, warnings = convert_html(fetched.data, url, fetched.url, self._download_image)
            return [note], warnings
        if kind in ("text/markdown", "text/plain"):
            note, warnings = convert_text_note(fetched.data, Path(_stem(url) + ".md"), url)
            return [note], warnings
        raise KbcError(f"{url}: unsupported content type {kind}")

    def _image(self, data: bytes, path: Path, source: str):
        note = convert_image(data, path, source)
        warnings = []
        if self.describe is not None:
            try:
                description = self.describe(data, path.name, source)
                note.body += f"\n## Description\n\n{description}\n"
                note.extra["described_by"] = "model"
            except (ItemFailed, BackendError) as exc:
                warnings.append(f"{source}: stored without a description ({exc})")
        return [note], warnings

    def _download_image(self, url: str, root: Path | None = None):
        """An image of a page: over http(s) only; from disk only for a local page, and only
        inside its input folder `root` (a web page never makes kbc read a local file)."""
        try:
            if urlparse(url).scheme in ("http", "https"):
                got = fetch(url, MAX_IMAGE_BYTES, self.timeout, self.deadline)
                return image_name(url, got.content_type), got.data
            if root is None or "://" in url or url.startswith("file:"):
                return None
            local = Path(url)
            if (local.is_file() and inside(local, root) and not inside(local, self.vault.root / ".kbc")
                    and local.suffix.lower().lstrip(".") in IMAGE_TYPES):
                return local.name, local.read_bytes()
        except (FetchError, OSError):
            return None
        return None

    def _from_file(self, path: Path, root: Path):
        if not path.exists():
            raise KbcError(f"{path}: no such file or folder")
        if not path.is_file():
            raise KbcError(f"{path}: not a regular file (a device, socket or pipe)")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise KbcError(f"{path}: {size:,} bytes, over the {self.max_bytes:,}-byte limit")
        if size == 0:
            raise KbcError(f"{path}: empty file")
        data = path.read_bytes()
        source = str(path.resolve())
        suffix = path.suffix.lower()
        if suffix == ".pdf" or looks_like_pdf(data):
            return [convert_pdf(data, source, path.stem)], []
        if suffix in HTML_EXTENSIONS:
            base = path.resolve().parent.as_posix() + "/"
            # A local page's images come from beside it, never over the network (a saved page
            # would otherwise fetch every remote image again, slowly); remote ones stay links.
            note, warnings = convert_html(data, source, None, lambda src: None if "://" in src else
                                          self._download_image(base + src.lstrip("/"), root))
            remote = [w for w in warnings if "image not downloaded" in w and "://" in w.rsplit(": ", 1)[-1]]
            if remote:
                warnings = [w for w in warnings if w not in remote] + [
                    f"{source}: {len(remote)} remote images of a local page left as links (not fetched)"]
            return [note], warnings
        if suffix in IMAGE_EXTENSIONS:
            return self._image(data, path, source)
        if suffix in DATA_EXTENSIONS:
            return [convert_dataset(data, path, source)], []
        if suffix in TEXT_EXTENSIONS:
            note, warnings = convert_text_note(data, path, source, root=root)
            return [note], warnings
        raise KbcError(f"{path}: unsupported file type {suffix or '(no extension)'}")


def _stem(url: str) -> str:
    return Path(urlparse(url).path).stem or urlparse(url).netloc

