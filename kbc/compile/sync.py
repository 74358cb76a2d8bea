"""Consolidation as a step of the run: ask about new candidate pairs, then make the database
and the pages follow the identity the decisions give (page names, redirects, dropped pages)."""
from __future__ import annotations


from rapidfuzz import fuzz

from kbc.compile import consolidate
from kbc.compile.bookkeeping import write_redirect
from kbc.compile.claim_judging import ClaimQuestions, explained
from kbc.compile.concepts import concept_key
from kbc.compile.identity import Identity, Overrides
from kbc.compile.identity_state import Tracker
from kbc.compile.manifest import Manifest
from kbc.compile.names import PageNames
from kbc.compile.rows import RENAME, SAME, Concept
from kbc.llm import BackendError, ItemFailed
from kbc.vault.pages import page_state, remove_page


class Consolidator:
    def __init__(self, vault, llm, templates, manifest, report, max_output: int):
        self.vault, self.llm, self.templates = vault, llm, templates
        self.manifest, self.report, self.max_output = manifest, report, max_output
        self.overrides = Overrides()
        self._reserved: set[str] | None = None  # during a sync: pages that stay or are given
        self._summaries: set[str] | None = None  # during a sync: the source summaries' names
        self._settled: set[str] | None = None  # concept keys at the run's first sync
        self._relations = None  # (id of the identity, decisions, the identity, its relations)
        self.names = PageNames(vault, self._claimed)
        self.tracker = Tracker(vault, manifest)

    def _claimed(self) -> set[str]:
        """Pages concepts and sources hold now (asked at a run's first new name and again after
        each sync: names given since are kept by PageNames)."""
        if self._reserved is None:
            return self.manifest.claimed_pages()
        if self._summaries is None:
            self._summaries = self.manifest.summary_names()
        return self._reserved | self._summaries

    # -- asking -----------------------------------------------------------------------------

    def run(self, overrides: Overrides, titles: dict[str, str], sources: list | None = None) -> Identity:
        """Asks about new members' pairs (and, in the same requests, whether some claims of
        other sources are about them); returns the identity that follows (for the run to reuse)."""
        identity = self.sync(overrides, keep=False)  # the sync after the questions stores it
        members = {m.id: m for m in self.manifest.members()}
        new = {m.id for m in members.values() if not m.considered}
        if not new:
            self.tracker.save()
            return identity
        fresh = [k for k, c in identity.concepts.items() if any(m in new for m in c.members)]
        # Only pairs with a new concept in them are asked about: the decisions about those count.
        touching = self.manifest.touching([m for k in fresh for m in identity.concepts[k].members])
        decided = consolidate.decided_pairs(touching, identity.member_key)
        decided |= self._person_pairs(identity)
        near = consolidate.Neighbourhood()
        pairs = consolidate.candidate_pairs(identity.concepts, members, decided, titles, near, identity.memo)
        batches = consolidate.batches(pairs, fresh, identity.concepts, members, titles, self.templates,
                                      self.max_output)
        claims = ClaimQuestions(self.vault, self.llm, self.templates, self.manifest, self.max_output)
        claims.prepare(batches, near, identity, titles, sources or [])
        results = self.llm.complete_all([b.request for b in batches]) if batches else []
        failed: set[str] = set()
        joined = False  # a `same` or rename decision came: the identity changes
        for batch, result in zip(batches, results):
            if isinstance(result, BackendError):  # never answered: the next run asks again
                self.report.warnings.append(f"{result}; concepts stay apart until a rerun decides")
                failed |= set(batch.labels.values())
                continue
            if isinstance(result, ItemFailed):  # answered, unusable even after a retry: not paid again
                self.report.warnings.append(f"{result}; concepts stay apart (asked again when their sources change)")
                continue
            decisions = consolidate.decisions_from(batch, result.data, identity.concepts)
            self.manifest.add_decisions(decisions)
            joined = joined or any(d.relation in (SAME, RENAME) for d in decisions)
            claims.answered(batch, result.data, identity.concepts)
        # A member whose pairs were all answered is not asked about again.
        self.manifest.mark_considered([m for m in new if identity.member_key.get(m) not in failed])
        if not joined:  # only relations decided: identity reads no other decision, so it stands
            self.tracker.save()
            return identity
        return self.sync(overrides)

    def _person_pairs(self, identity: Identity) -> set[frozenset]:
        """Pairs a person decided in kbc-merges.toml: never asked."""
        if not (self.overrides.same or self.overrides.different):
            return set()
        by_name = {}
        for key, concept in identity.concepts.items():
            for name in [concept.name, concept.page, *concept.aliases]:
                by_name.setdefault(concept_key(name), set()).add(key)
        out = set()
        for group in self.overrides.same + self.overrides.different:
            keys = [by_name.get(concept_key(n), set()) for n in group]
            for i, a in enumerate(keys):
                for b in keys[i + 1:]:
                    out |= {frozenset((x, y)) for x in a for y in b if x != y}
        return out

    # -- following the decisions ------------------------------------------------------------

    def sync(self, overrides: Overrides | None, keep: bool = True) -> Identity:
        """`keep`: store the identity for the next run (identity_state.py) now."""
        if overrides is not None:
            self.overrides = overrides
        old = self.manifest.concepts()
        if self._settled is None:
            self._settled = set(old)
        members = self.manifest.members()
        identity = self.tracker.identity(members, self.overrides, old, self._settled)
        concepts_dir = self.vault.wiki_dir / "concepts"
        # Pages that keep their concept are taken; a merged-away or dropped concept's page
        # is free for the concept that takes its place.
        self._reserved = {old[k].page for k, c in identity.concepts.items()
                          if k in old and old[k].page and concept_key(old[k].name) == concept_key(c.name)}
        self.names.release()  # read again at the first new name: what this sync reserves
        redirects: list[tuple[str, str]] = []
        # Concepts that had a page keep it first; new ones are named after them.
        for key in sorted(identity.concepts, key=lambda k: (k not in old, k)):
            concept = identity.concepts[key]
            previous = old.get(key)
            if previous and previous.page and concept_key(previous.name) == concept_key(concept.name):
                concept.page = previous.page
            else:
                concept.page = self.names.free(concept.name, keep=previous.page if previous else "")
                if previous and previous.page and previous.page != concept.page:
                    redirects.append((previous.page, concept.page))
            self._reserved.add(concept.page)
            self.names.claim(concept.page)
        before = {m.id: m.concept_key for m in members}
        changed = {m: k for m, k in identity.member_key.items() if before.get(m) != k}
        self._report_merges(identity, before, members, {changed[m] for m in changed})
        for old_key, into in identity.merged.items():
            page = old[old_key].page
            # A page minted this run and never written was never linked: no redirect for it.
            if page and (old_key in self._settled or (concepts_dir / f"{page}.md").exists()):
                redirects.append((old[old_key].page, identity.concepts[into].page))
        live = {c.page for c in identity.concepts.values()}
        for page, target in redirects:
            if page not in live:
                write_redirect(self.vault, concepts_dir / f"{page}.md", target, self.report)
        for key, concept in old.items():
            if key not in identity.concepts and key not in identity.merged:
                self._drop(concept, concepts_dir)
            elif key in identity.merged:
                self.manifest.drop_concept(key)
        self.manifest.put_concepts(list(identity.concepts.values()), old)
        if changed:
            self.manifest.assign(changed)
        self._reserved = self._summaries = None
        self.names.release()
        if keep:
            self.tracker.save()
        return identity

    def _report_merges(self, identity: Identity, before: dict[str, str], members: list, joined: set[str]) -> None:
        """`joined`: the concepts some member came to (the others merged nothing)."""
        members = {m.id: m for m in members}  # as sync read them: assigned only after this
        for key in [k for k in identity.concepts if k in joined]:
            concept = identity.concepts[key]
            origins = {before.get(m) or m for m in concept.members}
            if len(origins) < 2 or all(before.get(m) == key for m in concept.members):
                continue
            names = sorted({members[m].name + f" ({members[m].source_path})" for m in concept.members},
                           key=str.casefold)
            line = " + ".join(names) + f" -> [[{concept.page}]]"
            if line not in self.report.merged:
                self.report.merged.append(line)

    def _drop(self, concept: Concept, concepts_dir) -> None:
        """A concept no source names any more: its page goes, unless a person edited it."""
        path = concepts_dir / f"{concept.page}.md"
        if page_state(self.vault, path) in ("ours", "missing"):
            remove_page(self.vault, path)
            self.report.deleted_pages.append(concept.page)
        else:
            self.report.kept_human.append(concept.page)
        self.manifest.drop_concept(concept.key)

    # -- for the graph ----------------------------------------------------------------------

    def relations(self, identity: Identity) -> list[tuple[str, str, str]]:
        """Asked for twice a run (articles, then Related sections): worked out once for the
        same identity and decisions."""
        basis = (id(identity), self.manifest.decisions_added)
        if self._relations is None or self._relations[:2] != basis:
            self._relations = (*basis, identity, consolidate.relations(self.manifest.relating(), identity.member_key))
        return list(self._relations[3])

    def nearest(self, identity: Identity):
        concepts = identity.concepts

        def similar(key: str, apart: set[str]) -> str | None:
            mine = concepts[key]
            best = max(((fuzz.token_set_ratio(f"{mine.name} {mine.definition}", f"{c.name} {c.definition}"), k)
                        for k, c in concepts.items() if k != key and k not in apart), default=None)
            return best[1] if best else None

        return similar


def explain(manifest) -> list[str]:
    """The stored decisions, one line each, for `kbc compile --explain`."""
    members = {m.id: m for m in manifest.members()}
    concepts = manifest.concepts()

    def label(member_id: str) -> str:
        member = members.get(member_id)
        if member is None:
            return f"{member_id} (gone)"
        page = concepts[member.concept_key].page if member.concept_key in concepts else "?"
        return f"{member.name} [{member.source_path}] (page [[{page}]])"

    lines = []
    for d in manifest.decisions():
        who = "person" if d.origin == "person" else "model"
        if d.relation == RENAME:
            lines.append(f"rename: {label(d.a)} -> {d.name!r} ({who})")
        else:
            extra = f", named {d.name!r}" if d.name else ""
            lines.append(f"{d.relation}: {label(d.a)} / {label(d.b)}{extra} ({who})")
    return lines + explained(manifest, label)

