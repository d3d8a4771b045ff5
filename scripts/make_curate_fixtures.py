"""Write the tiny run's curation fixtures (deterministic): source rows shaped like the four hub datasets, an
evaluation file, and the replay caches of R1 and MeSH replies. Run: ``.venv/bin/python scripts/make_curate_fixtures.py``.

Planted on purpose:
* near-duplicates: MedQA vignettes with a one-character edit (both dedup modes catch them) and MedMCQA questions
  repeated with a typo and their options reordered (only the improved, order-free dedup catches them);
* evaluation copies: long MedQA vignettes from the evaluation file (both modes catch them: the options are short
  next to the question), MedMCQA questions copied from MedMCQA_validation (the faithful prompt-vs-question ratio
  stays far below 95: a known miss) and every PubMedQA row, which is also in PubMedQA_test (a known miss, ~90);
* malformed rows: one MedMCQA row with ``cop`` out of range, one MedQA row whose ``answer_idx`` is not an option.
MedQA and MedBullets items are real public evaluation items from ``../shared/data/eval-samples``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from m1repro.api.chat import cache_key  # noqa: E402
from m1repro.curate import collect as col  # noqa: E402
from m1repro.curate.difficulty import difficulty_prompt  # noqa: E402
from m1repro.curate.domains import SYSTEM_PROMPT, load_qualifiers, rubric, user_prompt  # noqa: E402

OUT = ROOT / "resources/fixtures/curate"
SAMPLES = Path("/work/shared/data/eval-samples")
QUALIFIERS = ROOT / "resources/mesh/qualifier_scope_note.tsv"
R1_MODEL, R1_PARAMS = "deepseek-ai/DeepSeek-R1", {"max_tokens": 8000, "temperature": 0.0}
MESH_MODEL, MESH_PARAMS = "gpt-4o", {"max_tokens": 512, "temperature": 0.0}

# (category, question templates, facts: (subject, answer)); distractors come from the same category.
FACTS = {
    "drug": (["Drug of choice for {s} is:", "Which of the following is the first-line treatment of {s}?",
              "The preferred agent in the management of {s} is:"],
             [("absence seizures", "Ethosuximide"), ("trigeminal neuralgia", "Carbamazepine"),
              ("syphilis", "Benzathine penicillin"), ("malignant hyperthermia", "Dantrolene"),
              ("paracetamol poisoning", "N-acetylcysteine"), ("organophosphate poisoning", "Atropine"),
              ("methanol poisoning", "Fomepizole"), ("anaphylaxis", "Adrenaline"),
              ("myasthenic crisis", "Neostigmine"), ("status epilepticus", "Lorazepam"),
              ("pneumocystis pneumonia", "Cotrimoxazole"), ("hyperkalemia with ECG changes", "Calcium gluconate")]),
    "deficiency": (["Deficiency of {s} causes:", "Which disease results from a lack of {s}?",
                    "A diet deficient in {s} leads to:"],
                   [("vitamin C", "Scurvy"), ("thiamine", "Beriberi"), ("niacin", "Pellagra"),
                    ("vitamin D", "Rickets"), ("iodine", "Goitre"), ("vitamin A", "Night blindness"),
                    ("vitamin K", "Hypoprothrombinemia"), ("vitamin B12", "Megaloblastic anemia"),
                    ("zinc", "Acrodermatitis enteropathica"), ("copper", "Menkes disease")]),
    "nerve": (["Nerve supply of the {s} is:", "The {s} is innervated by the:",
               "Injury to which nerve paralyses the {s}?"],
              [("deltoid", "Axillary nerve"), ("serratus anterior", "Long thoracic nerve"),
               ("diaphragm", "Phrenic nerve"), ("lateral rectus", "Abducens nerve"),
               ("superior oblique", "Trochlear nerve"), ("biceps brachii", "Musculocutaneous nerve"),
               ("gluteus maximus", "Inferior gluteal nerve"), ("tibialis anterior", "Deep peroneal nerve"),
               ("cricothyroid", "External laryngeal nerve"), ("stapedius", "Facial nerve")]),
    "organism": (["The causative organism of {s} is:", "{s} is caused by:", "Which organism is responsible for {s}?"],
                 [("scrub typhus", "Orientia tsutsugamushi"), ("cholera", "Vibrio cholerae"),
                  ("tetanus", "Clostridium tetani"), ("diphtheria", "Corynebacterium diphtheriae"),
                  ("Lyme disease", "Borrelia burgdorferi"), ("leprosy", "Mycobacterium leprae"),
                  ("whooping cough", "Bordetella pertussis"), ("gas gangrene", "Clostridium perfringens"),
                  ("kala-azar", "Leishmania donovani"), ("plague", "Yersinia pestis")]),
}

HEADQA = [
    ("Which enzyme is deficient in phenylketonuria?", ["Phenylalanine hydroxylase", "Tyrosinase", "Homogentisate oxidase", "Fumarylacetoacetase"]),
    ("The main buffer system of the extracellular fluid is:", ["Bicarbonate", "Phosphate", "Haemoglobin", "Plasma proteins"]),
    ("Which cells produce surfactant in the lung?", ["Type II pneumocytes", "Type I pneumocytes", "Alveolar macrophages", "Club cells"]),
    ("The hormone that stimulates milk ejection is:", ["Oxytocin", "Prolactin", "Oestradiol", "Progesterone"]),
    ("In nursing care, the Braden scale assesses the risk of:", ["Pressure ulcers", "Falls", "Malnutrition", "Delirium"]),
    ("Which of these drugs is a loop diuretic?", ["Furosemide", "Spironolactone", "Hydrochlorothiazide", "Acetazolamide"]),
    ("The rate-limiting enzyme of cholesterol synthesis is:", ["HMG-CoA reductase", "HMG-CoA synthase", "Squalene epoxidase", "Mevalonate kinase"]),
    ("Which psychological defence mechanism attributes one's own impulses to others?", ["Projection", "Sublimation", "Denial", "Regression"]),
    ("The antidote for heparin overdose is:", ["Protamine sulfate", "Vitamin K", "Idarucizumab", "Flumazenil"]),
    ("Which vitamin is a cofactor of transaminases?", ["Pyridoxal phosphate", "Thiamine pyrophosphate", "Biotin", "Tetrahydrofolate"]),
    ("The pH of a 0.01 M HCl solution is:", ["2", "1", "3", "12"]),
    ("Which immunoglobulin crosses the placenta?", ["IgG", "IgM", "IgA", "IgE"]),
    ("In which phase of the cell cycle is DNA replicated?", ["S phase", "G1 phase", "G2 phase", "M phase"]),
    ("The normal glomerular filtration rate in an adult is about:", ["125 mL/min", "25 mL/min", "500 mL/min", "1200 mL/min"]),
    ("Which neurotransmitter is depleted in Parkinson disease?", ["Dopamine", "Serotonin", "Acetylcholine", "GABA"]),
    ("Which bond links amino acids in a protein?", ["Peptide bond", "Glycosidic bond", "Phosphodiester bond", "Hydrogen bond"]),
    ("The first heart sound is produced by closure of the:", ["Atrioventricular valves", "Semilunar valves", "Foramen ovale", "Ductus arteriosus"]),
    ("Which test measures the extrinsic pathway of coagulation?", ["Prothrombin time", "Activated partial thromboplastin time", "Bleeding time", "Thrombin time"]),
    ("Which organelle carries out oxidative phosphorylation?", ["Mitochondrion", "Lysosome", "Golgi apparatus", "Peroxisome"]),
    ("A patient with a Glasgow Coma Scale of 8 requires:", ["Airway protection", "Oral feeding", "Early ambulation", "Discharge"]),
]

PUBMED_TOPICS = [
    ("statin therapy", "postoperative atrial fibrillation", "cardiac surgery"), ("vitamin D supplementation", "fracture risk", "elderly women"),
    ("early mobilisation", "length of stay", "hip fracture"), ("telemonitoring", "readmission", "heart failure"),
    ("metformin", "cancer incidence", "type 2 diabetes"), ("music therapy", "anxiety", "preoperative patients"),
    ("probiotics", "necrotising enterocolitis", "preterm infants"), ("smoking cessation counselling", "quit rates", "hospitalised smokers"),
    ("bariatric surgery", "remission of diabetes", "obese adults"), ("aspirin", "pre-eclampsia", "high-risk pregnancies"),
    ("CT colonography", "polyp detection", "screening"), ("exercise training", "depressive symptoms", "older adults"),
    ("delayed cord clamping", "anaemia at 4 months", "term infants"), ("tranexamic acid", "blood loss", "knee arthroplasty"),
    ("chlorhexidine bathing", "bloodstream infections", "intensive care"), ("HbA1c screening", "undiagnosed diabetes", "emergency departments"),
    ("intraoperative warming", "wound infection", "colorectal surgery"), ("oral corticosteroids", "recovery", "Bell palsy"),
    ("mobile phone reminders", "vaccination coverage", "children"), ("low-dose CT", "lung cancer mortality", "heavy smokers"),
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
    return {"id": f"fx-mcqa-{i:04d}", "question": q, "opa": opts[0], "opb": opts[1], "opc": opts[2], "opd": opts[3],
            "cop": ans, "choice_type": "single", "exp": None, "subject_name": "Fixture", "topic_name": None}


def to4(item: dict, rng: random.Random) -> dict:
    """A 5-option MedQA test item as a GBaker 4-option row (one wrong option dropped)."""
    letters = sorted(item["options"])
    wrong = [x for x in letters if x != item["answer_idx"]]
    dropped = set(rng.sample(wrong, len(wrong) - 3))
    keep = [x for x in letters if x not in dropped]
    opts = {"ABCD"[k]: item["options"][x] for k, x in enumerate(keep)}
    ans = "ABCD"[keep.index(item["answer_idx"])]
    return {"question": item["question"], "answer": opts[ans], "options": opts, "meta_info": item.get("meta_info", "step1"),
            "answer_idx": ans, "metamap_phrases": []}


def read_jsonl(p: Path) -> list[dict]:
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]


def main() -> None:
    rng = random.Random(20250401)
    OUT.mkdir(parents=True, exist_ok=True)
    mcq = mcq_items(rng)  # 120 unique short questions
    eval_mcqa_src, train_mcqa_src = mcq[:24], mcq[24:]

    # ---- MedMCQA: 96 unique + 8 copies of eval items + 6 typo duplicates (options reordered) + 1 malformed
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
    #      + 6 copies of evaluation items (the fixture evaluation file holds medqa_test[:120]) + 1 malformed
    medqa_all = read_jsonl(SAMPLES / "medqa_test.jsonl")
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
        headqa.append({"data": {"Question": q, "Options": dict(zip(letters, shown, strict=True)),
                                "Correct Answer": opts[0], "Correct Option": letters[order.index(0)]},
                       "subject_name": "Fixture", "id": f"fx-headqa-{i}"})
    headqa += [json.loads(json.dumps(headqa[3])), json.loads(json.dumps(headqa[11]))]

    # ---- PubMedQA pqa_labeled: 40 rows (20 in the train half); all 40 are in PubMedQA_test of the eval file
    pubmed = []
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
        pubmed.append({"pubid": 21000000 + i, "question": f"Does {x} reduce {y} in {pop} (cohort {i + 1})?",
                       "context": {"contexts": contexts, "labels": ["BACKGROUND", "METHODS", "RESULTS"],
                                   "meshes": ["Humans"], "reasoning_required_pred": [], "reasoning_free_pred": []},
                       "long_answer": contexts[-1], "final_decision": decision})

    files = {"MedMCQA": "medmcqa_train.jsonl", "MedQA": "medqa_train.jsonl", "HeadQA": "headqa_train.jsonl",
             "PubMedQA": "pubmedqa_pqa_labeled.jsonl"}
    for src, rows in (("MedMCQA", medmcqa), ("MedQA", medqa), ("HeadQA", headqa), ("PubMedQA", pubmed)):
        with open(OUT / files[src], "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")

    # ---- evaluation file in the m1 schema
    def ev(q: str, opts: list[str], a: int) -> dict:
        d = {"ABCDEFGHIJ"[k]: t for k, t in enumerate(opts)}
        return {"question": q, "options": d, "answer_idx": "ABCDEFGHIJ"[a], "answer": opts[a]}

    instr = "Using the above document as a reference, please review the following question and choose the option you find most appropriate."
    eval_data = {
        "MedMCQA_validation": [ev(q, o, a) for q, o, a in eval_mcqa_src],
        "MedQA_USLME_test": [{k: x[k] for k in ("question", "options", "answer", "answer_idx")} for x in medqa_all[:120]],
        "PubMedQA_test": [ev(" ".join(r["context"]["contexts"]) + "\n\n" + instr + "\n" + r["question"], ["yes", "no", "maybe"],
                             ["yes", "no", "maybe"].index(r["final_decision"])) for r in pubmed],
        "MedBullets_op4": [{k: x[k] for k in ("question", "options", "answer", "answer_idx")}
                           for x in read_jsonl(SAMPLES / "medbullets_op4.jsonl")[:40]],
        "HumanityLastExam": [{k: x[k] for k in ("question", "options", "answer", "answer_idx") if k in x}
                             for x in read_jsonl(SAMPLES / "HLE_biomed.jsonl")[:20]],
    }
    (OUT / "eval_data.json").write_text(json.dumps(eval_data, ensure_ascii=False, indent=1) + "\n")

    # ---- replay caches: replies for every row of the pool (which rows reach the API depends on the tiny models)
    pool, _ = col.collect({s: str(OUT / f) for s, f in files.items()}, col.load_fixture_rows, 42, "exclude")
    rr = random.Random(7)
    quals = load_qualifiers(QUALIFIERS)
    rub = rubric(quals)
    with open(OUT / "r1_replay.jsonl", "w", encoding="utf-8") as r1, open(OUT / "mesh_replay.jsonl", "w", encoding="utf-8") as mesh:
        for row in pool.iter_rows(named=True):
            letters = "ABCDEFGHIJ"[: len(row["options"])]
            right = rr.random() < 0.7
            letter = row["answer_letter"] if right else rr.choice([x for x in letters if x != row["answer_letter"]])
            text = row["options"][letters.index(letter)]
            reasoning = (f"Okay, let me think about this question. The stem points to {text.lower()}. "
                         f"Let me check the other options... they fit less well. So the answer is {letter}.")
            content = f"The best answer is **{letter}. {text}**.\n\n\\boxed{{{letter}}}"
            msgs = [{"role": "user", "content": difficulty_prompt(row["prompt"])}]
            rec = {"key": cache_key(R1_MODEL, msgs, R1_PARAMS), "model": R1_MODEL,
                   "response": {"content": content, "reasoning_content": reasoning, "finish_reason": "stop"},
                   "usage": {"prompt_tokens": 40 + len(row["prompt"]) // 4, "completion_tokens": 60 + rr.randint(0, 400)},
                   "time": "2025-04-01T00:00:00Z"}
            r1.write(json.dumps(rec, ensure_ascii=False) + "\n")
            mm = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt(row["prompt"], rub)}]
            code = rr.randrange(len(quals))
            u = rr.random()
            first = (f"This question concerns {quals[code][0].lower()}.\n\n**{code:02d}**" if u < 0.6 else
                     f"Category: `{code:02d}`." if u < 0.9 else "I cannot classify this question.")
            for salt, reply in (("", first), ("retry-1", f"{code:02d}" if u < 0.97 else "Unclear.")):
                if salt and u < 0.9:
                    continue
                mesh.write(json.dumps({"key": cache_key(MESH_MODEL, mm, MESH_PARAMS, salt), "model": MESH_MODEL,
                                       "response": {"content": reply, "reasoning_content": None, "finish_reason": "stop"},
                                       "usage": {"prompt_tokens": 2500, "completion_tokens": 20}, "time": "2025-04-01T00:00:00Z"},
                                      ensure_ascii=False) + "\n")
    print(f"wrote fixtures to {OUT}: pool {pool.height} rows")


if __name__ == "__main__":
    main()
