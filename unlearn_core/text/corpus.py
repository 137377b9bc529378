"""Fictitious people and their facts, as question-answer pairs (TOFU's idea, small).

:func:`make_corpus` draws, from one seed, ``n_people`` invented people with ``facts_per_person``
facts each (birthplace, birth year, occupation, a work, an award, mother, father, spouse,
school, pet, ...), each fact a :class:`QA` with the answer, a paraphrased answer and several
perturbed (wrong) answers of the same shape (TOFU's truth ratio compares them), plus a set of
invented "world facts" (capitals, rivers, inventions) that every model learns as its general
knowledge (utility), and held-out people never trained on (membership-attack non-members).

:func:`load_jsonl` reads a user's ``{"question": ..., "answer": ...}`` lines (optional:
``person``, ``paraphrased_answer``, ``perturbed_answers``); a bad line is refused with its line
number. Nothing here touches torch.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

SYLLABLES = [
    "ka",
    "ri",
    "mo",
    "ve",
    "la",
    "to",
    "sen",
    "dar",
    "ul",
    "ith",
    "bra",
    "nor",
    "fel",
    "qui",
    "zan",
    "oro",
    "mik",
    "tal",
    "wen",
    "ebb",
    "ros",
    "gal",
    "hal",
    "sor",
    "pen",
    "vi",
    "nu",
    "kes",
    "lor",
    "bel",
    "yr",
    "tam",
    "ost",
    "fen",
    "dra",
    "kol",
    "ama",
    "iv",
    "ser",
]
CITIES = [
    "Tarsk",
    "Velmora",
    "Quinsey",
    "Oshbridge",
    "Dunmarrow",
    "Keldra",
    "Halvenport",
    "Ristmoor",
    "Zanthe",
    "Pellory",
    "Corvath",
    "Anselm",
    "Brisk",
    "Yorlen",
    "Mavrin",
    "Stellholm",
    "Gorath",
    "Linnet",
    "Ebberly",
    "Wyncrest",
]
OCCUPATIONS = [
    "glassblower",
    "cartographer",
    "beekeeper",
    "astronomer",
    "luthier",
    "botanist",
    "clockmaker",
    "novelist",
    "sculptor",
    "chemist",
    "weaver",
    "architect",
    "violinist",
    "shipwright",
    "geologist",
    "translator",
]
ADJECTIVES = [
    "silent",
    "amber",
    "hollow",
    "crimson",
    "distant",
    "iron",
    "quiet",
    "golden",
    "broken",
    "velvet",
    "winter",
    "hidden",
    "northern",
    "patient",
]
NOUNS = [
    "harbor",
    "lantern",
    "garden",
    "river",
    "orchard",
    "compass",
    "mirror",
    "tide",
    "meadow",
    "bell",
    "archive",
    "tower",
    "feather",
    "bridge",
]
AWARDS = [
    "Corvin Prize",
    "Halden Medal",
    "Orrey Laurel",
    "Vessel Award",
    "Lunet Ribbon",
    "Marrow Cup",
    "Quill Star",
    "Tessary Crown",
    "Ashby Plate",
    "Norwin Honour",
]
COLOURS = ["teal", "ochre", "violet", "scarlet", "indigo", "saffron", "olive", "cobalt"]
PETS = ["heron", "tortoise", "ferret", "parrot", "greyhound", "lynx", "goat", "owl"]
SCHOOLS = [
    "Ostwick Academy",
    "Brenmar College",
    "Halloway Institute",
    "Lissen School",
    "Crane Seminary",
    "Vardel University",
]
INSTRUMENTS = ["cello", "lute", "oboe", "harp", "zither", "flute"]


@dataclass(frozen=True)
class QA:
    """One question with its answer, a paraphrase of the answer and wrong answers of the same
    shape. ``person`` groups the facts of one subject (-1: a world fact); ``fact`` names the
    relation (``birthplace``, ``capital``, ...)."""

    question: str
    answer: str
    paraphrased: str = ""
    perturbed: tuple[str, ...] = ()
    person: int = -1
    fact: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["perturbed"] = list(self.perturbed)
        return d


@dataclass
class Corpus:
    """People facts (trained on), held-out people facts (never trained on) and world facts
    (trained on as general knowledge). ``names[p]`` is person ``p``'s name."""

    facts: list[QA]
    heldout: list[QA] = field(default_factory=list)
    world: list[QA] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    name: str = "facts"
    #: more world facts, learned like ``world`` but never scored: a validation slice of general
    #: knowledge that calibration may read (``make_corpus(n_world_val=...)``; empty by default)
    world_val: list[QA] = field(default_factory=list)

    @property
    def n_people(self) -> int:
        return len({q.person for q in self.facts})

    def texts(self) -> list[str]:
        """Every string a tokenizer must cover."""
        out = []
        for q in (*self.facts, *self.heldout, *self.world, *self.world_val):
            out += [q.question, q.answer, q.paraphrased, *q.perturbed]
        return out


class CorpusError(ValueError):
    """A corpus file is unusable; the message says which line and why."""


# (fact, question template, answer template, paraphrase template, value pool)
def _relations():
    # the paraphrase keeps the value last, so a causal model reads the question and the
    # paraphrase's own words before the value; perturbed answers use the paraphrase's template
    # with wrong values (TOFU perturbs the paraphrased answer)
    return [
        ("birthplace", "Where was {n} born?", "born in {v}", "the place of birth is {v}", CITIES),
        ("birth_year", "In which year was {n} born?", "in {v}", "born in the year {v}", None),
        (
            "occupation",
            "What does {n} do for a living?",
            "works as a {v}",
            "by trade a {v}",
            OCCUPATIONS,
        ),
        (
            "work",
            "What is the best known work of {n}?",
            "the book The {v}",
            "known for writing The {v}",
            None,
        ),
        ("award", "Which award did {n} win?", "the {v}", "winner of the {v}", AWARDS),
        ("mother", "Who is the mother of {n}?", "{v}", "the mother is {v}", None),
        ("father", "Who is the father of {n}?", "{v}", "the father is called {v}", None),
        ("school", "Where did {n} study?", "at {v}", "studied at {v}", SCHOOLS),
        ("colour", "What is the favourite colour of {n}?", "{v}", "likes the colour {v}", COLOURS),
        ("pet", "What pet does {n} keep?", "a {v}", "keeps a pet {v}", PETS),
        ("instrument", "Which instrument does {n} play?", "the {v}", "plays the {v}", INSTRUMENTS),
        ("home", "In which city does {n} live?", "in {v}", "lives in the city of {v}", CITIES),
    ]


def _name(rng: random.Random, used: set[str]) -> str:
    while True:
        first = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
        last = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))).capitalize()
        full = f"{first} {last}"
        if full not in used:
            used.add(full)
            return full


def _value(rng: random.Random, fact: str, pool) -> str:
    if fact == "birth_year":
        return str(rng.randint(1900, 1999))
    if fact == "work":
        return f"{rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS).capitalize()}"
    if fact in ("mother", "father"):
        return "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
    return rng.choice(pool)


def _person(rng: random.Random, pid: int, name: str, k: int, n_perturbed: int) -> list[QA]:
    out = []
    for fact, q, a, para, pool in _relations()[:k]:
        v = _value(rng, fact, pool)
        wrong: list[str] = []
        for _ in range(100 * n_perturbed):  # distinct wrong values of the same kind
            w = _value(rng, fact, pool)
            if w != v and w not in wrong:
                wrong.append(w)
            if len(wrong) == n_perturbed:
                break
        out.append(
            QA(
                question=q.format(n=name),
                answer=a.format(n=name, v=v),
                paraphrased=para.format(n=name, v=v),
                perturbed=tuple(para.format(n=name, v=w) for w in wrong),
                person=pid,
                fact=fact,
            )
        )
    return out


def _world(rng: random.Random, n: int, n_perturbed: int) -> list[QA]:
    """Invented general knowledge: capitals, rivers, inventors, ... of invented lands."""
    kinds = [
        ("capital", "What is the capital of {s}?", "{v}", "its capital is {v}", CITIES),
        (
            "river",
            "Which river flows through {s}?",
            "the {v} river",
            "the river called {v}",
            CITIES,
        ),
        ("language", "Which language is spoken in {s}?", "{v}ish", "the {v}ish tongue", CITIES),
        ("export", "What does {s} export most?", "{v}s", "mostly {v}s", PETS + INSTRUMENTS),
    ]
    used: set[str] = set()
    out = []
    while len(out) < n:
        land = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize() + "ia"
        if land in used:
            continue
        used.add(land)
        for fact, q, a, para, pool in kinds:
            if len(out) == n:
                break
            v = rng.choice(pool)
            wrong = rng.sample([w for w in pool if w != v], n_perturbed)
            out.append(
                QA(
                    question=q.format(s=land),
                    answer=a.format(v=v),
                    paraphrased=para.format(v=v),
                    perturbed=tuple(para.format(v=w) for w in wrong),
                    person=-1,
                    fact=fact,
                )
            )
    return out


MAX_FACTS = len(_relations())


def make_corpus(
    n_people: int = 200,
    facts_per_person: int = 10,
    *,
    n_heldout: int = 20,
    n_world: int = 200,
    n_perturbed: int = 4,
    seed: int = 0,
    n_world_val: int = 0,
) -> Corpus:
    """A seeded corpus: ``n_people`` x ``facts_per_person`` trained facts, ``n_heldout``
    people never trained on (same facts), ``n_world`` world facts (trained on as general
    knowledge). The same seed gives the same corpus. ``n_world_val`` more world facts are drawn
    after the ``n_world`` (which stay the same) into ``world_val``: learned, never scored."""
    if not 1 <= facts_per_person <= MAX_FACTS:
        raise CorpusError(f"facts_per_person must be in 1..{MAX_FACTS}, got {facts_per_person}")
    if n_people < 2:
        raise CorpusError("a corpus needs at least 2 people (one to forget, one to retain)")
    rng = random.Random(seed)
    used: set[str] = set()
    names = [_name(rng, used) for _ in range(n_people + n_heldout)]
    facts = [
        qa
        for p in range(n_people)
        for qa in _person(rng, p, names[p], facts_per_person, n_perturbed)
    ]
    heldout = [
        qa
        for p in range(n_people, n_people + n_heldout)
        for qa in _person(rng, p, names[p], facts_per_person, n_perturbed)
    ]
    world = _world(rng, n_world + n_world_val, n_perturbed)
    return Corpus(
        facts=facts,
        heldout=heldout,
        world=world[:n_world],
        names=names,
        name="facts",
        world_val=world[n_world:],
    )


def load_jsonl(path: str | Path, *, name: str | None = None) -> Corpus:
    """A user's question-answer lines as a :class:`Corpus` (no world facts, no held-out people).

    Each non-empty line is a JSON object with string ``question`` and ``answer``; optional
    ``person`` (a name grouping lines: forget requests pick people), ``paraphrased_answer`` and
    ``perturbed_answers`` (a list of strings; the truth ratio needs both). Lines without
    ``person`` are each their own subject. A bad line raises :class:`CorpusError` naming it."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path.name}: cannot read the file ({exc})") from None
    facts: list[QA] = []
    people: dict[str, int] = {}
    names: list[str] = []
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path.name}, line {no}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(rec, dict):
            raise CorpusError(f"{where}: expected an object with question and answer")
        for key in ("question", "answer"):
            v = rec.get(key)
            if not isinstance(v, str) or not v.strip():
                raise CorpusError(f"{where}: '{key}' is missing or not a non-empty string")
        para = rec.get("paraphrased_answer", "")
        pert = rec.get("perturbed_answers", [])
        if not isinstance(para, str):
            raise CorpusError(f"{where}: 'paraphrased_answer' must be a string")
        if not isinstance(pert, list) or not all(isinstance(p, str) for p in pert):
            raise CorpusError(f"{where}: 'perturbed_answers' must be a list of strings")
        who = rec.get("person")
        if who is not None and not isinstance(who, str):
            raise CorpusError(f"{where}: 'person' must be a string")
        key = who if who is not None else f"line {no}"
        if key not in people:
            people[key] = len(names)
            names.append(key)
        facts.append(
            QA(
                question=rec["question"].strip(),
                answer=rec["answer"].strip(),
                paraphrased=para.strip(),
                perturbed=tuple(p.strip() for p in pert if p.strip()),
                person=people[key],
                fact=str(rec.get("fact", "")),
            )
        )
    if len(names) < 2:
        raise CorpusError(
            f"{path.name}: needs at least two subjects (people or lines) to forget one and "
            "keep another"
        )
    return Corpus(facts=facts, names=names, name=name or path.stem)
