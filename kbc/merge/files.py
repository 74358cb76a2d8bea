"""Which of the other vault's files come over: raw notes and attachments by content hash,
wiki pages unless ours has them (a person's page that clashes becomes a proposal)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kbc.vault.bookkeeping import is_navigation
from kbc.vault.files import sha256_bytes
from kbc.vault.frontmatter import split
from kbc.vault.links import link_key
from kbc.vault.pages import state_of



@dataclass
class FilePlan:
    source: str  # relative to the other vault: raw/x.md, wiki/concepts/y.md
    target: str  # relative to ours (for a proposal: where it is written)
    action: str  # add, rename, duplicate (same content already here), proposal, keep (ours stays)
    note: str = ""  # why, for the report

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def plan_raw(ours: Path, other: Path, label: str) -> list[FilePlan]:
    """Raw notes and attachments: same content is the same file (wherever it sits); the same
    name with other content is kept as well, renamed '<name> (from <label>)'."""
    here = {sha256_bytes(p.read_bytes()): p.relative_to(ours).as_posix() for p in _files(ours / "raw")}
    taken = {link_key(p.stem) if p.suffix == ".md" else p.name.casefold() for p in _files(ours / "raw")}
    plans = []
    renamed: dict[str, str] = {}  # attachment name -> its name here; notes' links follow
    # Attachments first: a note's links to a renamed one are rewritten, and the note is
    # compared by the bytes it would have here (so a rerun finds it already merged).
    for path in sorted(_files(other / "raw"), key=lambda p: p.suffix == ".md"):
        rel = path.relative_to(other).as_posix()
        digest = sha256_bytes(note_bytes(path, renamed))
        if digest in here:
            plans.append(FilePlan(rel, here[digest], "duplicate",
                                  "" if here[digest] == rel else f"same content as {here[digest]}"))
            if path.suffix != ".md" and Path(here[digest]).name != path.name:
                renamed[path.name] = Path(here[digest]).name  # here under another name
            continue
        key = link_key(path.stem) if path.suffix == ".md" else path.name.casefold()
        target = rel
        if key in taken:
            number, stem = 1, f"{path.stem} (from {label})"
            while (link_key(stem) if path.suffix == ".md" else (stem + path.suffix).casefold()) in taken:
                number += 1
                stem = f"{path.stem} (from {label} {number})"
            target = (Path(rel).parent / f"{stem}{path.suffix}").as_posix()
            key = link_key(stem) if path.suffix == ".md" else f"{stem}{path.suffix}".casefold()
        taken.add(key)
        here[digest] = target
        if path.suffix != ".md" and target != rel:
            renamed[path.name] = Path(target).name
        plans.append(FilePlan(rel, target, "add" if target == rel else "rename",
                              "" if target == rel else f"{rel} here has other content"))
    return plans


def note_bytes(path: Path, renamed: dict[str, str]) -> bytes:
    """A file's bytes as they come over: a note's links to renamed attachments rewritten."""
    data = path.read_bytes()
    if path.suffix != ".md" or not renamed:
        return data
    text = data.decode("utf-8", errors="replace")
    for old, new in renamed.items():
        text = re.sub(r"(\[\[|\]\((?:[^)]*/)?)" + re.escape(old) + r"(?=[\]|#)])", lambda m: m.group(1) + new, text)
    return text.encode("utf-8")


def renamed_summaries(ours: Path, other: Path, notes: list[FilePlan], summaries: dict[str, str],
                      here: dict[str, str]) -> dict[str, str]:
    """A note that comes over renamed keeps its summary page (and so its extraction) under a
    name of its own here: '<note name> (source)'. `summaries`: note path -> summary page there;
    `here`: the same here, where a merge that was interrupted already gave it one."""
    taken = {link_key(p.stem) for root in (ours, other) for folder in ("wiki", "raw")
             for p in _files(root / folder) if p.suffix == ".md"}
    taken |= {link_key(Path(p.target).stem) for p in notes}
    out = {}
    for plan in notes:
        page = summaries.get(plan.source)
        if plan.action != "rename" or not plan.source.endswith(".md") or not page:
            continue
        if plan.target in here:
            out[page] = here[plan.target]
            continue
        base, number = f"{Path(plan.target).stem} (source)", 2
        stem = base
        while link_key(stem) in taken:
            stem, number = f"{base[:-1]} {number})", number + 1
        taken.add(link_key(stem))
        out[page] = (Path(page).parent / f"{stem}.md").as_posix()
    return out


def relink_notes(text: str, renamed: dict[str, str]) -> str:
    """Wikilinks to a note by its old name follow it to its new one."""
    for old, new in renamed.items():
        text = re.sub(r"\[\[" + re.escape(old) + r"(?=[\]|#])", lambda m: "[[" + new, text)
    return text


def plan_pages(ours: Path, other: Path, label: str, withheld: set[str],
               renamed: dict[str, str] | None = None) -> list[FilePlan]:
    """The other vault's wiki pages. `withheld`: names and paths of pages whose rows were not
    imported (a concept or source this vault already has): such a page stays out, as does
    one that clashes with a page here; either way a person's page there becomes a proposal.
    `renamed`: summary pages of notes renamed here -> their path here."""
    here = {link_key(p.stem): p.relative_to(ours).as_posix() for p in _files(ours / "wiki") if p.suffix == ".md"}
    plans = []
    for path in _files(other / "wiki"):
        rel = path.relative_to(other).as_posix()
        if rel in (renamed or {}):
            plans.append(FilePlan(rel, renamed[rel], "rename", "the summary of a note renamed here"))
            continue
        if path.suffix != ".md":
            plans.append(FilePlan(rel, rel, "keep" if (ours / rel).exists() else "add"))
            continue
        if is_navigation(path.stem) or path.parent.name in ("indexes", "proposals"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        clash = here.get(link_key(path.stem))
        if clash and (ours / clash).read_bytes() == path.read_bytes():
            plans.append(FilePlan(rel, clash, "duplicate"))
            continue
        if not clash and path.stem not in withheld and rel not in withheld:
            plans.append(FilePlan(rel, rel, "add"))
            continue
        try:
            props, body = split(text)
            human = state_of(props, body) != "ours"
        except Exception:  # unreadable front matter: a person's doing, keep it for review
            human = True
        if human:
            target = f"wiki/proposals/{path.stem} (from {label}).md"
            plans.append(FilePlan(rel, target, "proposal", f"edited by a person in {label}; "
                                  + (f"[[{Path(clash).stem}]] here" if clash else "kbc rewrites this concept here")))
        else:
            plans.append(FilePlan(rel, clash or rel, "keep", "kbc rewrites it from both vaults' sources"))
    return plans
