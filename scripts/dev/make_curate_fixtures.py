"""Write the tiny run's curation fixtures (deterministic): source rows shaped like the four hub datasets, rows shaped
like the first decontamination's benchmarks, an evaluation file, and the replay caches of the R1 and MeSH replies.

Run from the repo root: ``.venv/bin/python scripts/dev/make_curate_fixtures.py SAMPLES_DIR [--config config/tiny.yaml]``
where SAMPLES_DIR holds ``medqa_test.jsonl``, ``medbullets_op4.jsonl`` and ``HLE_biomed.jsonl`` (public evaluation
items; MedQA and MedBullets items here are real ones). Output paths, the R1 and MeSH models and their request params
come from the config's ``curate:`` section; the requests themselves are built by the package's stage code
(``m1repro.curate.traces.generate_traces``, ``m1repro.curate.domains.label_domains``) through a recording client,
so the caches answer exactly what the stages will ask. Rerun it whenever the prompts, the option shuffle or the
request params change.

Planted on purpose:
* near-duplicates: MedQA vignettes with a one-character edit (both dedup modes catch them) and MedMCQA questions
  repeated with a typo and their options reordered (only the improved, order-free dedup catches them);
* benchmark copies (first decontamination): long MedQA vignettes from the MedQA test rows (the faithful test
  catches them: the options are short next to the question), one MedQA training vignette that also sits in the
  MMLU-Pro rows, MedMCQA questions copied from MedMCQA validation (prompt-vs-question ratio far below 95: a known
  miss), and one PubMedQA row repeated so that its copies fall into different halves of the split (the copy in
  the train half matches the test half's prompt, the original's ``pubmedqa_custom_test``);
* evaluation copies (the evaluation file, improved mode and verify): the same MedQA and MedMCQA items, and every
  PubMedQA row, which is also in PubMedQA_test (faithful ratio ~90: a known miss);
* malformed rows: one MedMCQA row with ``cop`` out of range, one MedQA row whose ``answer_idx`` is not an option.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz  # noqa: E402

from m1repro.api.chat import ChatResult, cache_key  # noqa: E402
from m1repro.config import load_config  # noqa: E402
from m1repro.curate import collect as col  # noqa: E402
from m1repro.curate.domains import MESH_MODEL, label_domains, load_qualifiers, mesh_params  # noqa: E402
from m1repro.curate.traces import R1_MODEL, generate_traces, r1_params  # noqa: E402

# (category, question templates, facts: (subject, answer)); distractors come from the same category.
FACTS = {
    "drug": (
        [
            "Drug of choice for {s} is:",
            "Which of the following is the first-line treatment of {s}?",
            "The preferred agent in the management of {s} is:",
        ],
        [
            ("absence seizures", "Ethosuximide"),
            ("trigeminal neuralgia", "Carbamazepine"),
            ("syphilis", "Benzathine penicillin"),
            ("malignant hyperthermia", "Dantrolene"),
            ("paracetamol poisoning", "N-acetylcysteine"),
            ("organophosphate poisoning", "Atropine"),
            ("methanol poisoning", "Fomepizole"),
            ("anaphylaxis", "Adrenaline"),
            ("myasthenic crisis", "Neostigmine"),
            ("status epilepticus", "Lorazepam"),
            ("pneumocystis pneumonia", "Cotrimoxazole"),
            ("hyperkalemia with ECG changes", "Calcium gluconate"),
        ],
    ),
    "deficiency": (
        ["Deficiency of {s} causes:", "Which disease results from a lack of {s}?", "A diet deficient in {s} leads to:"],
        [
            ("vitamin C", "Scurvy"),
            ("thiamine", "Beriberi"),
            ("niacin", "Pellagra"),
            ("vitamin D", "Rickets"),
            ("iodine", "Goitre"),
            ("vitamin A", "Night blindness"),
            ("vitamin K", "Hypoprothrombinemia"),
            ("vitamin B12", "Megaloblastic anemia"),
            ("zinc", "Acrodermatitis enteropathica"),
            ("copper", "Menkes disease"),
        ],
    ),
    "nerve": (
        ["Nerve supply of the {s} is:", "The {s} is innervated by the:", "Injury to which nerve paralyses the {s}?"],
        [
            ("deltoid", "Axillary nerve"),
            ("serratus anterior", "Long thoracic nerve"),
            ("diaphragm", "Phrenic nerve"),
            ("lateral rectus", "Abducens nerve"),
            ("superior oblique", "Trochlear nerve"),
            ("biceps brachii", "Musculocutaneous nerve"),
            ("gluteus maximus", "Inferior gluteal nerve"),
            ("tibialis anterior", "Deep peroneal nerve"),
            ("cricothyroid", "External laryngeal nerve"),
            ("stapedius", "Facial nerve"),
        ],
    ),
    "organism": (
        ["The causative organism of {s} is:", "{s} is caused by:", "Which organism is responsible for {s}?"],
        [
            ("scrub typhus", "Orientia tsutsugamushi"),
            ("cholera", "Vibrio cholerae"),
            ("tetanus", "Clostridium tetani"),
            ("diphtheria", "Corynebacterium diphtheriae"),
            ("Lyme disease", "Borrelia burgdorferi"),
            ("leprosy", "Mycobacterium leprae"),
            ("whooping cough", "Bordetella pertussis"),
            ("gas gangrene", "Clostridium perfringens"),
            ("kala-azar", "Leishmania donovani"),
            ("plague", "Yersinia pestis"),
        ],
    ),
}

HEADQA = [
    (
        "Which enzyme is deficient in phenylketonuria?",
        ["Phenylalanine hydroxylase", "Tyrosinase", "Homogentisate oxidase", "Fumarylacetoacetase"],
    ),
    (
        "The main buffer system of the extracellular fluid is:",
        ["Bicarbonate", "Phosphate", "Haemoglobin", "Plasma proteins"],
    ),
    (
        "Which cells produce surfactant in the lung?",
        ["Type II pneumocytes", "Type I pneumocytes", "Alveolar macrophages", "Club cells"],
    ),
    ("The hormone that stimulates milk ejection is:", ["Oxytocin", "Prolactin", "Oestradiol", "Progesterone"]),
    (
        "In nursing care, the Braden scale assesses the risk of:",
        ["Pressure ulcers", "Falls", "Malnutrition", "Delirium"],
    ),
    (
        "Which of these drugs is a loop diuretic?",
        ["Furosemide", "Spironolactone", "Hydrochlorothiazide", "Acetazolamide"],
    ),
    (
        "The rate-limiting enzyme of cholesterol synthesis is:",
        ["HMG-CoA reductase", "HMG-CoA synthase", "Squalene epoxidase", "Mevalonate kinase"],
    ),
    (
        "Which psychological defence mechanism attributes one's own impulses to others?",
        ["Projection", "Sublimation", "Denial", "Regression"],
    ),
    ("The antidote for heparin overdose is:", ["Protamine sulfate", "Vitamin K", "Idarucizumab", "Flumazenil"]),
    (
        "Which vitamin is a cofactor of transaminases?",
        ["Pyridoxal phosphate", "Thiamine pyrophosphate", "Biotin", "Tetrahydrofolate"],
    ),
    ("The pH of a 0.01 M HCl solution is:", ["2", "1", "3", "12"]),
    ("Which immunoglobulin crosses the placenta?", ["IgG", "IgM", "IgA", "IgE"]),
    ("In which phase of the cell cycle is DNA replicated?", ["S phase", "G1 phase", "G2 phase", "M phase"]),
    (
        "The normal glomerular filtration rate in an adult is about:",
        ["125 mL/min", "25 mL/min", "500 mL/min", "1200 mL/min"],
    ),
    ("Which neurotransmitter is depleted in Parkinson disease?", ["Dopamine", "Serotonin", "Acetylcholine", "GABA"]),
    (
        "Which bond links amino acids in a protein?",
        ["Peptide bond", "Glycosidic bond", "Phosphodiester bond", "Hydrogen bond"],
    ),
    (
        "The first heart sound is produced by closure of the:",
        ["Atrioventricular valves", "Semilunar valves", "Foramen ovale", "Ductus arteriosus"],
    ),
    (
        "Which test measures the extrinsic pathway of coagulation?",
        ["Prothrombin time", "Activated partial thromboplastin time", "Bleeding time", "Thrombin time"],
    ),
    (
        "Which organelle carries out oxidative phosphorylation?",
        ["Mitochondrion", "Lysosome", "Golgi apparatus", "Peroxisome"],
    ),
    (
        "A patient with a Glasgow Coma Scale of 8 requires:",
        ["Airway protection", "Oral feeding", "Early ambulation", "Discharge"],
    ),
]

PUBMED_TOPICS = [
    ("statin therapy", "postoperative atrial fibrillation", "cardiac surgery"),
    ("vitamin D supplementation", "fracture risk", "elderly women"),
    ("early mobilisation", "length of stay", "hip fracture"),
    ("telemonitoring", "readmission", "heart failure"),
    ("metformin", "cancer incidence", "type 2 diabetes"),
    ("music therapy", "anxiety", "preoperative patients"),
    ("probiotics", "necrotising enterocolitis", "preterm infants"),
    ("smoking cessation counselling", "quit rates", "hospitalised smokers"),
    ("bariatric surgery", "remission of diabetes", "obese adults"),
    ("aspirin", "pre-eclampsia", "high-risk pregnancies"),
    ("CT colonography", "polyp detection", "screening"),
    ("exercise training", "depressive symptoms", "older adults"),
    ("delayed cord clamping", "anaemia at 4 months", "term infants"),
    ("tranexamic acid", "blood loss", "knee arthroplasty"),
    ("chlorhexidine bathing", "bloodstream infections", "intensive care"),
    ("HbA1c screening", "undiagnosed diabetes", "emergency departments"),
    ("intraoperative warming", "wound infection", "colorectal surgery"),
    ("oral corticosteroids", "recovery", "Bell palsy"),
    ("mobile phone reminders", "vaccination coverage", "children"),
    ("low-dose CT", "lung cancer mortality", "heavy smokers"),
]


def mcq_items(rng: random.Random) -> list[tuple[str, list[str], int]]:
    items = []
    for _cat, (templates, facts) in FACTS.items():
        answers = [a for _, a in facts]
        for template in templates:
            for s, a in facts:
                distractors = rng.sample([x for x in answers if x != a], 3)
                opts = [a, *distractors]
                rng.shuffle(opts)
                q = template.format(s=s)
                items.append((q[0].upper() + q[1:], opts, opts.index(a)))
    rng.shuffle(items)
    return items


def medmcqa_row(i: int, q: str, opts: list[str], ans: int) -> dict:
    return {
        "id": f"fx-mcqa-{i:04d}",
        "question": q,
        "opa": opts[0],
        "opb": opts[1],
        "opc": opts[2],
        "opd": opts[3],
        "cop": ans,
        "choice_type": "single",
        "exp": None,
        "subject_name": "Fixture",
        "topic_name": None,
    }


def to4(item: dict, rng: random.Random) -> dict:
    """A 5-option MedQA test item as a GBaker 4-option row (one wrong option dropped)."""
    letters = sorted(item["options"])
    wrong = [x for x in letters if x != item["answer_idx"]]
    dropped = set(rng.sample(wrong, len(wrong) - 3))
    keep = [x for x in letters if x not in dropped]
    opts = {"ABCD"[k]: item["options"][x] for k, x in enumerate(keep)}
    ans = "ABCD"[keep.index(item["answer_idx"])]
    return {
        "question": item["question"],
        "answer": opts[ans],
        "options": opts,
        "meta_info": item.get("meta_info", "step1"),
        "answer_idx": ans,
        "metamap_phrases": [],
    }


GPQA = [  # (Question, Correct Answer, three incorrect answers, Subdomain, High-level domain)
    (
        "A plasmid carrying a kanamycin resistance gene is transformed into E. coli and plated on kanamycin. Which "
        "control best shows that the colonies are transformants rather than spontaneous resistant mutants?",
        "Plating untransformed cells on kanamycin",
        "Plating transformed cells without antibiotic",
        "Sequencing one colony's genome",
        "Doubling the kanamycin concentration",
        "Molecular Biology",
        "Biology",
    ),
    (
        "In a dihybrid cross of two heterozygotes for unlinked genes with complete dominance, what fraction of the "
        "offspring shows both recessive phenotypes?",
        "1/16",
        "3/16",
        "9/16",
        "1/4",
        "Genetics",
        "Biology",
    ),
    (
        "A particle of mass m moves in a one-dimensional harmonic potential of angular frequency w. What is the "
        "energy of its first excited state?",
        "3/2 hbar w",
        "1/2 hbar w",
        "hbar w",
        "2 hbar w",
        "Quantum Mechanics",
        "Physics",
    ),
    (
        "Which product dominates when 2-bromo-2-methylbutane is heated with potassium tert-butoxide in tert-butanol?",
        "2-methylbut-1-ene",
        "2-methylbut-2-ene",
        "2-methylbutan-2-ol",
        "2-tert-butoxy-2-methylbutane",
        "Organic Chemistry",
        "Chemistry",
    ),
    (
        "A siRNA that targets the 3' untranslated region of an mRNA lowers the protein but not the mRNA level. "
        "Which mechanism best explains this?",
        "Translational repression",
        "Transcriptional silencing",
        "Nonsense-mediated decay",
        "Alternative splicing",
        "Molecular Biology",
        "Biology",
    ),
    (
        "Two stars have the same surface temperature but one is 100 times more luminous. What is the ratio of their "
        "radii?",
        "10",
        "100",
        "1",
        "10000",
        "Astrophysics",
        "Physics",
    ),
]

MMLU = [  # (subject, question, choices, answer index): five medical subsets, concatenated in the original's order
    (
        "clinical_knowledge",
        "Which of the following is the normal range of adult resting heart rate?",
        ["60-100 beats per minute", "40-60 beats per minute", "100-120 beats per minute", "30-50 beats per minute"],
        0,
    ),
    (
        "clinical_knowledge",
        "Which nerve is at risk during an intramuscular injection into the buttock?",
        ["Sciatic nerve", "Femoral nerve", "Obturator nerve", "Pudendal nerve"],
        0,
    ),
    (
        "college_biology",
        "Which organelle is the site of the Krebs cycle in eukaryotic cells?",
        ["Mitochondrial matrix", "Cytosol", "Endoplasmic reticulum", "Nucleus"],
        0,
    ),
    (
        "college_biology",
        "Crossing over occurs during which stage of meiosis?",
        ["Prophase I", "Metaphase I", "Anaphase II", "Telophase II"],
        0,
    ),
    ("college_medicine", "Which hormone lowers blood glucose?", ["Insulin", "Glucagon", "Cortisol", "Adrenaline"], 0),
    (
        "college_medicine",
        "The main site of water reabsorption in the nephron is the:",
        ["Proximal convoluted tubule", "Distal convoluted tubule", "Collecting duct", "Loop of Henle"],
        0,
    ),
    (
        "medical_genetics",
        "Cystic fibrosis is inherited in which pattern?",
        ["Autosomal recessive", "Autosomal dominant", "X-linked recessive", "Mitochondrial"],
        0,
    ),
    (
        "medical_genetics",
        "Down syndrome is most often caused by:",
        ["Nondisjunction of chromosome 21", "Translocation 9;22", "Deletion of 5p", "Uniparental disomy 15"],
        0,
    ),
    (
        "professional_medicine",
        "A 23-year-old woman has fever, dysuria and flank pain. Which is the most likely diagnosis?",
        ["Pyelonephritis", "Cystitis", "Urethritis", "Nephrolithiasis"],
        0,
    ),
    (
        "professional_medicine",
        "Which drug is first-line for anaphylaxis?",
        ["Intramuscular adrenaline", "Oral antihistamine", "Intravenous hydrocortisone", "Inhaled salbutamol"],
        0,
    ),
]

MMLU_PRO = [  # (category, question, options (10), answer index); one health item is planted in main()
    (
        "biology",
        "Which process produces most of the ATP in aerobic respiration?",
        [
            "Oxidative phosphorylation",
            "Glycolysis",
            "Fermentation",
            "The Calvin cycle",
            "Beta oxidation",
            "Substrate-level phosphorylation",
            "Photophosphorylation",
            "Gluconeogenesis",
            "Lipogenesis",
            "Urea cycle",
        ],
        0,
    ),
    (
        "psychology",
        "Which researcher is known for the theory of cognitive development in stages?",
        ["Piaget", "Skinner", "Pavlov", "Freud", "Bandura", "Erikson", "Maslow", "Rogers", "Watson", "Kohlberg"],
        0,
    ),
    (
        "law",
        "Which doctrine lets a court decline to hear a case better tried elsewhere?",
        [
            "Forum non conveniens",
            "Res judicata",
            "Stare decisis",
            "Laches",
            "Estoppel",
            "Mens rea",
            "Habeas corpus",
            "Ultra vires",
            "Amicus curiae",
            "Pro bono",
        ],
        0,
    ),
    (
        "math",
        "What is the derivative of x^3?",
        ["3x^2", "x^2", "3x", "x^3/3", "2x^3", "3x^3", "x^4/4", "6x", "3", "0"],
        0,
    ),
    (
        "health",
        "Which vitamin deficiency causes scurvy?",
        [
            "Vitamin C",
            "Vitamin A",
            "Vitamin B1",
            "Vitamin B12",
            "Vitamin D",
            "Vitamin E",
            "Vitamin K",
            "Niacin",
            "Folate",
            "Biotin",
        ],
        0,
    ),
]


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


class RecordingClient:
    """Stands in for ``ChatClient`` while the stage code builds its requests: answers each from ``reply(messages,
    salt)`` and keeps a cache record under the key the real client would use."""

    def __init__(
        self, model: str, reply: Callable[[list[dict[str, str]], str], tuple[str, str | None, dict[str, int]]]
    ):
        self.model, self.reply = model, reply
        self.records: dict[str, dict[str, Any]] = {}

    def complete_many(
        self,
        messages_list: list[list[dict[str, str]]],
        params: Mapping[str, Any],
        salts: list[str] | None = None,
        ids: list[str] | None = None,
    ) -> list[ChatResult]:
        out = []
        for i, messages in enumerate(messages_list):
            salt = salts[i] if salts else ""
            key = cache_key(self.model, messages, params, salt)
            content, reasoning, usage = self.reply(messages, salt)
            self.records[key] = {
                "key": key,
                "model": self.model,
                "response": {"content": content, "reasoning_content": reasoning, "finish_reason": "stop"},
                "usage": usage,
                "time": "2025-04-01T00:00:00Z",
            }
            out.append(ChatResult(key, True, content, reasoning, "stop", usage))
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "records": len(self.records),
            "cost_usd": 0.0,
            "cost_usd_this_run": 0.0,
            "cost_usd_billed": 0.0,
        }


def row_of(messages: list[dict[str, str]], prompts: list[str]) -> int:
    """Which pool row a request is about: the longest pool prompt inside its user turn."""
    user = " ".join(m["content"] for m in messages if m["role"] == "user")
    hits = [i for i, p in enumerate(prompts) if p in user]
    if not hits:
        raise ValueError(f"no pool prompt in the request {user[:80]!r}")
    return max(hits, key=lambda i: len(prompts[i]))


def pubmed_rows() -> list[dict]:
    rows = []
    for i in range(40):
        n_t = len(PUBMED_TOPICS)
        x = PUBMED_TOPICS[i % n_t][0]
        y, pop = PUBMED_TOPICS[(i + 7 * (i // n_t)) % n_t][1:]
        year = 2001 + i
        contexts = [
            f"{x[0].upper() + x[1:]} has been proposed to reduce {y} in {pop}, but evidence from routine practice is limited.",
            f"We conducted a {'prospective' if i % 2 else 'retrospective'} cohort study of {120 + 7 * i} {pop} treated between {year} and {year + 3}; the primary outcome was {y}.",
            f"{'A significant' if i % 3 == 0 else 'No significant' if i % 3 == 1 else 'A borderline'} difference in {y} was observed (p={0.01 + 0.02 * (i % 5):.2f}).",
        ]
        decision = ["yes", "no", "maybe"][i % 3]
        rows.append(
            {
                "pubid": 21000000 + i,
                "question": f"Does {x} reduce {y} in {pop} (cohort {i + 1})?",
                "context": {
                    "contexts": contexts,
                    "labels": ["BACKGROUND", "METHODS", "RESULTS"],
                    "meshes": ["Humans"],
                    "reasoning_required_pred": [],
                    "reasoning_free_pred": [],
                },
                "long_answer": contexts[-1],
                "final_decision": decision,
            }
        )
    # one row repeated (a new pubid) so that its copies land in different halves of the split
    for c in range(len(rows)):
        trial = rows + [dict(rows[c], pubid=22000000 + c)]
        train, test = col.split_halves(len(trial))
        if (c in train) != (len(rows) in train):
            return trial
    raise RuntimeError("no row whose copy falls into the other half")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("samples", type=Path, help="folder with medqa_test.jsonl, medbullets_op4.jsonl, HLE_biomed.jsonl")
    ap.add_argument(
        "--config",
        type=Path,
        default=ROOT / "config" / "tiny.yaml",
        help="config whose curate: section names the files",
    )
    args = ap.parse_args()
    cur = load_config(args.config)["curate"]
    files = {s: ROOT / p for s, p in cur["fixtures"].items()}
    bench_files = {b: ROOT / p for b, p in cur["benchmark_fixtures"].items()}
    samples: Path = args.samples

    rng = random.Random(20250401)
    mcq = mcq_items(rng)  # 120 unique short questions
    eval_mcqa_src, train_mcqa_src = mcq[:24], mcq[24:]

    # ---- MedMCQA: 96 unique + 8 copies of validation items + 6 typo duplicates (options reordered) + 1 malformed
    medmcqa = [medmcqa_row(i, q, o, a) for i, (q, o, a) in enumerate(train_mcqa_src)]
    for k, (q, o, a) in enumerate(eval_mcqa_src[:8]):
        medmcqa.append(medmcqa_row(500 + k, q, o, a))
    for k in range(6):
        q, o, a = train_mcqa_src[k * 7]
        q2 = q.replace(" is", " iss", 1) if " is" in q else q + " "
        o2 = o[::-1]
        medmcqa.append(medmcqa_row(600 + k, q2, o2, len(o) - 1 - a))
    bad = medmcqa_row(999, "Which of the following is a malformed fixture row?", ["a", "b", "c", "d"], 0)
    bad["cop"] = 7
    medmcqa.append(bad)

    # ---- MedQA: 50 real test items (index 400..) as 4-option rows + 5 one-character near-duplicates
    #      + 6 copies of test items (the benchmark rows and the evaluation file hold medqa_test[:120]) + 1 malformed
    medqa_all = read_jsonl(samples / "medqa_test.jsonl")
    medqa = [to4(x, rng) for x in medqa_all[400:450]]
    for k in range(5):
        dup = json.loads(json.dumps(medqa[k * 9]))
        dup["question"] = dup["question"].replace(".", ";", 1)
        medqa.append(dup)
    long_eval = sorted(range(120), key=lambda i: -len(medqa_all[i]["question"]))[:6]
    for i in long_eval:
        medqa.append(to4(medqa_all[i], rng))
    badq = to4(medqa_all[450], rng)
    badq["answer_idx"] = "F"
    medqa.append(badq)

    # ---- HeadQA: 20 items in the openlifescienceai layout ({"data": {...}}), 2 of them repeated verbatim
    headqa = []
    for i, (q, opts) in enumerate(HEADQA):
        order = list(range(4))
        rng.shuffle(order)
        shown = [opts[j] for j in order]
        letters = "ABCD"
        headqa.append(
            {
                "data": {
                    "Question": q,
                    "Options": dict(zip(letters, shown, strict=True)),
                    "Correct Answer": opts[0],
                    "Correct Option": letters[order.index(0)],
                },
                "subject_name": "Fixture",
                "id": f"fx-headqa-{i}",
            }
        )
    headqa += [json.loads(json.dumps(headqa[3])), json.loads(json.dumps(headqa[11]))]

    # ---- PubMedQA pqa_labeled: 41 rows (one repeated); all are in PubMedQA_test of the evaluation file
    pubmed = pubmed_rows()

    for src, rows in (("MedMCQA", medmcqa), ("MedQA", medqa), ("HeadQA", headqa), ("PubMedQA", pubmed)):
        write_jsonl(files[src], rows)

    # ---- benchmark rows of the first decontamination (own generator: the rows above stay as they were)
    brng = random.Random(20250402)
    # the training vignette (one without a near-duplicate) whose prompt stays closest to its bare question
    planted = max(
        (k for k in range(50) if k % 9),
        key=lambda k: fuzz.ratio(
            col.build_prompt(medqa[k]["question"], list(medqa[k]["options"].values())), medqa[k]["question"]
        ),
    )
    pro = [
        {
            "question_id": i,
            "question": q,
            "options": o,
            "answer": "ABCDEFGHIJ"[a],
            "answer_index": a,
            "cot_content": "",
            "category": c,
            "src": f"fixture-{c}",
        }
        for i, (c, q, o, a) in enumerate(MMLU_PRO)
    ]
    pro.append(
        {
            "question_id": len(pro),
            "question": medqa[planted]["question"],
            "options": list(medqa[planted]["options"].values()) + [f"Distractor {k}" for k in range(6)],
            "answer": medqa[planted]["answer_idx"],
            "answer_index": "ABCD".index(medqa[planted]["answer_idx"]),
            "cot_content": "",
            "category": "health",
            "src": "fixture-medqa-copy",
        }
    )
    write_jsonl(
        bench_files["gpqa_diamond"],
        [
            {
                "Question": q,
                "Correct Answer": a,
                "Incorrect Answer 1": w1,
                "Incorrect Answer 2": w2,
                "Incorrect Answer 3": w3,
                "Subdomain": sub,
                "High-level domain": dom,
            }
            for q, a, w1, w2, w3, sub, dom in GPQA
        ],
    )
    write_jsonl(
        bench_files["medmcqa_validation"], [medmcqa_row(700 + i, q, o, a) for i, (q, o, a) in enumerate(eval_mcqa_src)]
    )
    write_jsonl(bench_files["medqa_test"], [to4(x, brng) for x in medqa_all[:120]])
    write_jsonl(
        bench_files["mmlu_medical"],
        [{"question": q, "subject": sub, "choices": ch, "answer": a} for sub, q, ch, a in MMLU],
    )
    write_jsonl(bench_files["mmlu_pro"], pro)

    # ---- evaluation file in the m1 schema
    def ev(q: str, opts: list[str], a: int) -> dict:
        d = {"ABCDEFGHIJ"[k]: t for k, t in enumerate(opts)}
        return {"question": q, "options": d, "answer_idx": "ABCDEFGHIJ"[a], "answer": opts[a]}

    instr = "Using the above document as a reference, please review the following question and choose the option you find most appropriate."
    eval_data = {
        "MedMCQA_validation": [ev(q, o, a) for q, o, a in eval_mcqa_src],
        "MedQA_USLME_test": [
            {k: x[k] for k in ("question", "options", "answer", "answer_idx")} for x in medqa_all[:120]
        ],
        "PubMedQA_test": [
            ev(
                " ".join(r["context"]["contexts"]) + "\n\n" + instr + "\n" + r["question"],
                ["yes", "no", "maybe"],
                ["yes", "no", "maybe"].index(r["final_decision"]),
            )
            for r in pubmed
        ],
        "MedBullets_op4": [
            {k: x[k] for k in ("question", "options", "answer", "answer_idx")}
            for x in read_jsonl(samples / "medbullets_op4.jsonl")[:40]
        ],
        "HumanityLastExam": [
            {k: x[k] for k in ("question", "options", "answer", "answer_idx") if k in x}
            for x in read_jsonl(samples / "HLE_biomed.jsonl")[:20]
        ],
    }
    eval_path = ROOT / cur["eval_data"]
    eval_path.write_text(json.dumps(eval_data, ensure_ascii=False, indent=1) + "\n")

    # ---- the plants work as described
    pool, _, pub_test = col.collect(
        {s: str(p) for s, p in files.items()}, col.load_fixture_rows, cur["seed"], "exclude"
    )
    by_q = {r["question"]: r["prompt"] for r in pool.iter_rows(named=True)}
    assert fuzz.ratio(by_q[medqa[planted]["question"]], medqa[planted]["question"]) >= 95, "MMLU-Pro plant too weak"
    pub_train = pool.filter(pool["source"] == "PubMedQA")["prompt"].to_list()
    assert any(fuzz.ratio(a, b) >= 95 for a in pub_train for b in pub_test["prompt"]), "PubMedQA plant too weak"

    # ---- replay caches: a reply for every pool row (which rows reach the API depends on the tiny models)
    prompts = pool["prompt"].to_list()
    rr = random.Random(7)
    quals = load_qualifiers(ROOT / cur["domains"]["qualifiers"])
    r1_plan, mesh_plan = [], []
    for row in pool.iter_rows(named=True):
        letters = "ABCDEFGHIJ"[: len(row["options"])]
        right = rr.random() < 0.7
        letter = row["answer_letter"] if right else rr.choice([x for x in letters if x != row["answer_letter"]])
        text = row["options"][letters.index(letter)]
        reasoning = (
            f"Okay, let me think about this question. The stem points to {text.lower()}. "
            f"Let me check the other options... they fit less well. So the answer is {letter}."
        )
        content = f"The best answer is **{letter}. {text}**.\n\n\\boxed{{{letter}}}"
        usage = {"prompt_tokens": 40 + len(row["prompt"]) // 4, "completion_tokens": 60 + rr.randint(0, 400)}
        r1_plan.append((content, reasoning, usage))
        code = rr.randrange(len(quals))
        u = rr.random()
        first = (
            f"This question concerns {quals[code][0].lower()}.\n\n**{code:02d}**"
            if u < 0.6
            else f"Category: `{code:02d}`."
            if u < 0.9
            else "I cannot classify this question."
        )
        retry = f"{code:02d}" if u < 0.97 else "Unclear."
        mesh_plan.append((first, retry))

    traces, dom = cur["traces"], cur["domains"]
    r1 = RecordingClient(traces["api"].get("model", R1_MODEL), lambda m, _s: r1_plan[row_of(m, prompts)])
    generate_traces(pool, r1, r1_params(traces.get("request", "faithful")))
    mesh_usage = {"prompt_tokens": 2500, "completion_tokens": 20}
    mesh = RecordingClient(
        dom["api"].get("model", MESH_MODEL),
        lambda m, s: (mesh_plan[row_of(m, prompts)][1 if s else 0], None, mesh_usage),
    )
    label_domains(pool, mesh, quals, mesh_params(dom.get("request", "faithful")), "unlabelled")
    write_jsonl(ROOT / traces["api"]["replay_cache"], list(r1.records.values()))
    write_jsonl(ROOT / dom["api"]["replay_cache"], list(mesh.records.values()))
    print(
        f"wrote curation fixtures: pool {pool.height} rows, PubMedQA test half {pub_test.height}, "
        f"R1 replies {len(r1.records)}, MeSH replies {len(mesh.records)}"
    )


if __name__ == "__main__":
    main()
