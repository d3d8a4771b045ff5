"""Write a small evaluation file in the schema of the m1 paper's ``m1_eval_data.json`` (deterministic).

Output: ``resources/fixtures/eval/m1_eval_fixture.json``, ``{source: [item, ...]}`` with the 11 sources in the
paper's order and 4 items each; an item is ``{question, options: {letter: text}, answer_idx, answer}`` with
``answer == options[answer_idx]`` (HumanityLastExam keeps its native answer form ``"C. text\\n"`` and its ``idx``).

Real items come from a folder of public evaluation samples, the required first argument (copies of public
evaluation files in the item schema):

* MedQA_USLME_test, MedBullets_op4, MedBullets_op5: the 4 shortest questions among the first 40 lines of
  ``medqa_test.jsonl``, ``medbullets_op4.jsonl``, ``medbullets_op5.jsonl``, in file order (short questions keep the
  CPU demo fast). MedBullets op4 and op5 share question stems, as in the real file;
* HumanityLastExam: the 3 shortest well-formed items (answer exactly ``"X. options[X]\\n"``) among the first 40
  lines of ``HLE_biomed.jsonl``, plus the real malformed item idx 137 (its answer does not match its option: the
  workflow counts it as an excluded item);
* MedMCQA_validation, PubMedQA_test, GPQA_Medical_test: the items of ``huatuo_eval_excerpt.json``.

The rest are written for this fixture (exam style, one unambiguous answer each): MedMCQA (4 options), PubMedQA
(made-up abstracts in the real item's layout, options yes/no/maybe), MMLU-Pro (10 options A-J), GPQA (4 options,
molecular biology and genetics), Lancet (4 options), MedXpertQA (10 options A-J; one answer is "I", which a
scorer may confuse with the pronoun) and NEJM (5 options A-E, no images).

Run from the repo root: ``.venv/bin/python scripts/dev/make_eval_fixture.py [SAMPLES_DIR] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from m1repro.records import EVAL_SOURCES

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "resources" / "fixtures" / "eval" / "m1_eval_fixture.json"

SOURCES = EVAL_SOURCES  # the paper's order (m1repro/records.py)
PER_SOURCE = 4
WINDOW = 40  # pick among the first WINDOW lines of a sample file
HLE_MALFORMED_IDX = "137"
KEYS = ("question", "options", "answer_idx", "answer")

PUBMEDQA_PROMPT = (
    "\n\nUsing the above document as a reference, please review the following question and choose the option you "
    "find most appropriate.\n"
)
YES_NO_MAYBE = {"A": "yes", "B": "no", "C": "maybe"}


def mcq(question: str, options: list[str], answer_idx: str) -> dict[str, Any]:
    """An item from its options in order A, B, C, ...; the answer text is taken from the options."""
    opts = {chr(ord("A") + k): text for k, text in enumerate(options)}
    return {"question": question, "options": opts, "answer_idx": answer_idx, "answer": opts[answer_idx]}


def pubmedqa(context: str, question: str, answer: str) -> dict[str, Any]:
    idx = next(k for k, v in YES_NO_MAYBE.items() if v == answer)
    return {
        "question": f"{context}{PUBMEDQA_PROMPT}{question}",
        "options": dict(YES_NO_MAYBE),
        "answer_idx": idx,
        "answer": answer,
    }


# ---------------------------------------------------------------------------------------------------- written items

MEDMCQA = [
    mcq(
        "Most common site of ectopic pregnancy is:",
        ["Ovary", "Ampulla of the fallopian tube", "Isthmus of the fallopian tube", "Cervix"],
        "B",
    ),
    mcq("Koplik spots are seen in:", ["Mumps", "Rubella", "Chickenpox", "Measles"], "D"),
]

PUBMEDQA = [
    pubmedqa(
        "In a before-and-after study at two emergency departments, a nurse-led sepsis screening tool applied at triage "
        "was introduced for adults presenting with suspected infection. Median time from arrival to the first antibiotic "
        "dose fell from 142 minutes in the 6-month pre-implementation period (n=388) to 71 minutes after implementation "
        "(n=402; p<0.001), and the proportion of patients receiving antibiotics within 1 hour rose from 18% to 46%.",
        "Does a nurse-led triage sepsis screening tool shorten the time to antibiotics in the emergency department?",
        "yes",
    ),
    pubmedqa(
        "We randomised 264 patients undergoing elective open inguinal hernia repair with mesh under local anaesthesia "
        "to a single preoperative dose of intravenous cefazolin or saline placebo. Surgical site infection within 30 "
        "days occurred in 4 of 131 patients (3.1%) in the antibiotic group and 5 of 133 (3.8%) in the placebo group "
        "(p=0.76). No deep or mesh infections were observed in either group.",
        "Does single-dose antibiotic prophylaxis reduce surgical site infection after elective mesh inguinal hernia "
        "repair?",
        "no",
    ),
    pubmedqa(
        "In a single-centre pilot trial, 46 adults with chronic low back pain were allocated to an 8-week group "
        "mindfulness programme or usual care. Pain intensity improved more in the mindfulness group at 8 weeks (mean "
        "difference -1.2 points on a 10-point scale, 95% CI -2.1 to -0.3), but the difference was no longer "
        "significant at 6 months, when 14 of the 46 participants had been lost to follow-up.",
        "Does a mindfulness programme provide lasting pain relief in chronic low back pain?",
        "maybe",
    ),
]

MMLU_PRO = [
    mcq(
        "Vitamin B12 bound to intrinsic factor is absorbed mainly in which part of the gastrointestinal tract?",
        [
            "Stomach",
            "Duodenum",
            "Proximal jejunum",
            "Terminal ileum",
            "Ascending colon",
            "Sigmoid colon",
            "Esophagus",
            "Proximal ileum",
            "Rectum",
            "Cecum",
        ],
        "D",
    ),
    mcq(
        "Which cranial nerve carries the preganglionic parasympathetic fibres that control secretion by the parotid "
        "gland?",
        [
            "Facial nerve",
            "Glossopharyngeal nerve",
            "Vagus nerve",
            "Trigeminal nerve",
            "Oculomotor nerve",
            "Hypoglossal nerve",
            "Accessory nerve",
            "Abducens nerve",
            "Vestibulocochlear nerve",
            "Olfactory nerve",
        ],
        "B",
    ),
    mcq(
        "What is the recommended ratio of chest compressions to rescue breaths for a single rescuer performing "
        "cardiopulmonary resuscitation on an adult?",
        ["5:1", "15:1", "15:2", "30:1", "30:2", "20:2", "10:1", "50:2", "3:1", "100:2"],
        "E",
    ),
    mcq(
        "Which of the following viruses has a DNA genome?",
        [
            "Influenza A virus",
            "Measles virus",
            "Hepatitis C virus",
            "Rabies virus",
            "Poliovirus",
            "Human immunodeficiency virus type 1",
            "Hepatitis B virus",
            "Rotavirus",
            "Dengue virus",
            "Mumps virus",
        ],
        "G",
    ),
]

GPQA = [
    mcq(
        "Two unrelated families segregate an autosomal dominant connective-tissue disorder caused by heterozygous "
        "nonsense variants in the same 12-exon gene, whose product assembles into homotrimers. In family 1 the premature "
        "termination codon lies in exon 4, more than 200 nucleotides upstream of the exon 4-exon 5 junction; affected "
        "members have a mild phenotype and their fibroblasts contain about half the normal amount of the gene's mRNA. In "
        "family 2 the premature termination codon lies in exon 12, the last exon; affected members have a much more "
        "severe phenotype and their fibroblasts contain a normal total amount of the mRNA. Which of the following best "
        "explains the difference in severity?",
        [
            "The exon 4 variant escapes nonsense-mediated decay because its premature stop codon lies far upstream of the "
            "last exon-exon junction, so it produces a truncated protein with dominant-negative activity",
            "The exon 12 variant triggers nonsense-mediated decay more efficiently because exon junction complexes remain "
            "downstream of it, abolishing expression from both alleles",
            "The exon 12 transcript escapes nonsense-mediated decay because no exon junction complex remains downstream of "
            "the premature stop codon; the truncated chains are incorporated into trimers and poison them, whereas the "
            "exon 4 variant causes haploinsufficiency",
            "Premature stop codons in the last exon induce efficient stop-codon readthrough, producing an elongated "
            "protein with a toxic gain of function",
        ],
        "C",
    ),
    mcq(
        "A researcher measures methylation at a promoter CpG island by treating genomic DNA with sodium bisulfite, "
        "amplifying the region by PCR and sequencing the products. At one CpG, the reference genome and the untreated "
        "sample both read C, but nearly all reads from the bisulfite-treated DNA read T. Assuming complete conversion and "
        "no sequence variant at this position, which of the following is the most likely interpretation?",
        [
            "The cytosine was unmethylated in the original genomic DNA",
            "The cytosine was 5-methylcytosine in the original genomic DNA",
            "The cytosine was 5-hydroxymethylcytosine in the original genomic DNA",
            "The CpG was hemimethylated, because bisulfite deaminates only cytosines on the methylated strand",
        ],
        "A",
    ),
    mcq(
        "An autosomal recessive disorder with complete penetrance affects 1 in 10,000 births in a population in "
        "Hardy-Weinberg equilibrium. A phenotypically unaffected woman whose brother is affected (both parents are "
        "unaffected) plans a pregnancy with an unaffected, unrelated man from the same population who has no family "
        "history of the disorder. Approximately what is the probability that their first child will be affected?",
        ["1 in 200", "1 in 300", "1 in 400", "1 in 40,000"],
        "B",
    ),
]

LANCET = [
    mcq(
        "A 58-year-old man calls an ambulance 90 minutes after the onset of severe central chest pain radiating to his "
        "left arm. He is sweaty, blood pressure is 132/84 mm Hg and heart rate is 96 beats per min. The prehospital "
        "electrocardiogram shows 3 mm ST-segment elevation in leads V1-V4. The nearest hospital with a 24-h primary "
        "percutaneous coronary intervention (PCI) service can be reached in 40 min, and the expected time from first "
        "medical contact to wire crossing is 75 min. He has no contraindications to antithrombotic therapy. Which of the "
        "following is the most appropriate reperfusion strategy?",
        [
            "Prehospital tenecteplase with no plan for subsequent angiography",
            "Admission to the local hospital for heparin and coronary angiography within 24 h",
            "Immediate transfer for primary PCI",
            "Aspirin and serial troponin measurements before deciding on reperfusion",
        ],
        "C",
    ),
    mcq(
        "A 27-year-old man presents 9 days after returning from a 3-week trip to Malawi, where he took no "
        "chemoprophylaxis. He has had fever and rigors for 3 days and today has become confused (Glasgow Coma Scale "
        "score 13). A thin blood film shows Plasmodium falciparum with 4% parasitaemia. Serum creatinine is 240 "
        "micromol/L and blood glucose is 5.1 mmol/L. Which of the following is the most appropriate initial "
        "antimalarial treatment?",
        ["Intravenous artesunate", "Oral artemether-lumefantrine", "Oral chloroquine", "Oral atovaquone-proguanil"],
        "A",
    ),
    mcq(
        "A 19-year-old woman with type 1 diabetes presents with 2 days of vomiting and abdominal pain after missing "
        "several insulin doses. Capillary glucose is 24 mmol/L, blood ketones 5.2 mmol/L, venous pH 7.12, bicarbonate "
        "9 mmol/L and potassium 5.6 mmol/L. She has received a 1 L bolus of 0.9% sodium chloride and her blood pressure "
        "has improved to 112/70 mm Hg. Which of the following is the most appropriate next step?",
        [
            "Intravenous 8.4% sodium bicarbonate infusion",
            "Subcutaneous rapid-acting insulin and discharge with review the next day",
            "Withhold insulin until the blood glucose falls below 14 mmol/L",
            "Fixed-rate intravenous insulin infusion at 0.1 units/kg per h with continued intravenous 0.9% sodium "
            "chloride",
        ],
        "D",
    ),
    mcq(
        "A 72-year-old woman is brought to the emergency department 2 h after she was last seen well, with sudden "
        "right-sided weakness and expressive aphasia. Her National Institutes of Health Stroke Scale score is 16. She "
        "takes no anticoagulants. Blood pressure is 172/94 mm Hg and capillary glucose 7.2 mmol/L. Non-contrast CT of "
        "the head shows no haemorrhage or established infarction, and CT angiography shows occlusion of the proximal "
        "left middle cerebral artery (M1 segment). Which of the following is the most appropriate management?",
        [
            "Aspirin 300 mg and admission to the stroke unit",
            "Intravenous thrombolysis followed by mechanical thrombectomy",
            "Lowering of blood pressure below 140/90 mm Hg before any reperfusion therapy",
            "Intravenous unfractionated heparin infusion",
        ],
        "B",
    ),
]

MEDXPERTQA = [
    mcq(
        "A 36-year-old woman presents with 3 days of progressive abdominal distension and right upper quadrant pain. "
        "Over the past year she has had intermittent fatigue, episodes of painful swallowing, and dark urine most "
        "noticeable on first morning voiding. Examination shows tender hepatomegaly and shifting dullness. Hemoglobin is "
        "8.9 g/dL, mean corpuscular volume 104 fL, reticulocyte count 6%, leukocyte count 3,100/mm3, and platelet count "
        "88,000/mm3. Lactate dehydrogenase is 1,450 U/L, haptoglobin is undetectable, and the direct antiglobulin test is "
        "negative. Urine shows hemosiderin. Doppler ultrasonography shows occlusion of the hepatic veins. Which of the "
        "following findings would most likely confirm the underlying diagnosis?",
        [
            "JAK2 V617F mutation in peripheral blood granulocytes",
            "ADAMTS13 activity below 10%",
            "Increased erythrocyte osmotic fragility with spherocytes on the blood smear",
            "High-titer cold agglutinins",
            "Hemoglobin S on hemoglobin electrophoresis",
            "BCR-ABL1 fusion transcript in peripheral blood",
            "Reduced glucose-6-phosphate dehydrogenase activity",
            "Ring sideroblasts on bone marrow aspirate",
            "Absence of CD55 and CD59 on erythrocytes and FLAER-negative granulocytes on flow cytometry",
            "Persistently positive antiphospholipid antibodies 12 weeks apart",
        ],
        "I",
    ),
    mcq(
        "A 26-year-old woman is evaluated for recurrent muscle cramps, fatigue, and two episodes of carpopedal spasm "
        "over the past year. She takes no medications, supplements, or laxatives and denies vomiting. Blood pressure is "
        "104/66 mm Hg. Serum sodium is 138 mEq/L, potassium 2.7 mEq/L, chloride 94 mEq/L, bicarbonate 31 mEq/L, "
        "magnesium 1.1 mg/dL, and calcium 9.4 mg/dL. Plasma renin activity and aldosterone concentration are both "
        "elevated. Urine chloride is 140 mEq/day, the spot urine calcium-to-creatinine ratio is 0.02 mg/mg, and urine "
        "diuretic screens on two occasions are negative. Genetic testing would most likely show biallelic "
        "loss-of-function variants in the gene encoding which of the following?",
        [
            "Na-K-2Cl cotransporter (NKCC2) of the thick ascending limb",
            "Renal outer medullary potassium channel (ROMK)",
            "Beta subunit of the epithelial sodium channel (ENaC)",
            "Thiazide-sensitive sodium-chloride cotransporter (NCC) of the distal convoluted tubule",
            "11-beta-hydroxysteroid dehydrogenase type 2",
            "Mineralocorticoid receptor",
            "WNK4 kinase",
            "Pendrin",
            "Calcium-sensing receptor",
            "Barttin",
        ],
        "D",
    ),
    mcq(
        "A 23-year-old woman is brought to the emergency department because of 2 weeks of insomnia, agitation, "
        "paranoid delusions, and visual hallucinations, preceded by a week of headache and low-grade fever. She has no "
        "psychiatric history and does not use drugs. Over the past 2 days she has had two generalized seizures. In the "
        "emergency department she develops repetitive orofacial dyskinesias, labile blood pressure, heart rate varying "
        "between 48 and 140/min, and episodes of hypoventilation that require intubation. MRI of the brain is normal. "
        "EEG shows generalized slowing with an extreme delta brush pattern. Cerebrospinal fluid shows 42 "
        "lymphocytes/mm3, normal glucose, mildly elevated protein, and a negative herpes simplex virus PCR. Which of the "
        "following is the most appropriate next step in addition to starting first-line immunotherapy?",
        [
            "Haloperidol and transfer to an inpatient psychiatric unit",
            "Pelvic imaging to look for an ovarian teratoma",
            "Stereotactic brain biopsy",
            "Serum anti-aquaporin-4 antibody testing",
            "Intravenous acyclovir for 21 days as the sole treatment",
            "Chest CT to look for a thymoma",
            "Electroconvulsive therapy",
            "Serum ceruloplasmin and slit-lamp examination",
            "CSF 14-3-3 protein and real-time quaking-induced conversion assay",
            "Genetic testing for a huntingtin CAG repeat expansion",
        ],
        "B",
    ),
    mcq(
        "A 44-year-old man is found confused in his garage and brought to the emergency department. He is drowsy but "
        "arousable and denies visual symptoms; fundoscopy is normal. Blood pressure is 142/88 mm Hg, pulse 108/min, and "
        "respirations 28/min. Serum sodium is 140 mEq/L, chloride 102 mEq/L, bicarbonate 6 mEq/L, urea nitrogen "
        "28 mg/dL, creatinine 2.9 mg/dL, and glucose 96 mg/dL. Arterial pH is 7.04. Measured serum osmolality is "
        "338 mOsm/kg. Serum ethanol, salicylate, and acetaminophen are undetectable, and lactate is 2.8 mmol/L. Urine "
        "microscopy shows numerous envelope-shaped and needle-shaped crystals. Which of the following is the most "
        "appropriate management?",
        [
            "Intravenous sodium bicarbonate as the sole therapy",
            "Fomepizole alone, with hemodialysis only if the osmolal gap rises",
            "Intravenous N-acetylcysteine",
            "Methylene blue",
            "Hydroxocobalamin",
            "Activated charcoal through a nasogastric tube",
            "Fomepizole and hemodialysis",
            "Physostigmine",
            "Naloxone",
            "Thiamine and pyridoxine as the sole therapy",
        ],
        "G",
    ),
]

NEJM = [
    mcq(
        "A 52-year-old woman presents with 6 months of fatigue and generalized pruritus. She takes no medications and "
        "rarely drinks alcohol. The alkaline phosphatase level is 410 U/liter (three times the upper limit of the normal "
        "range), the gamma-glutamyltransferase level is elevated, the alanine aminotransferase level is 58 U/liter, and "
        "the bilirubin and albumin levels are normal. Antimitochondrial antibodies are present at a high titer. "
        "Ultrasonography shows normal bile ducts and no liver mass. Which of the following is the most appropriate "
        "initial therapy?",
        [
            "Prednisone",
            "Obeticholic acid monotherapy",
            "Cholestyramine as the sole therapy",
            "Referral for liver transplantation",
            "Ursodeoxycholic acid",
        ],
        "E",
    ),
    mcq(
        "A 26-year-old man has had 2 years of low back and buttock pain that is worse after rest, wakes him in the "
        "second half of the night, and improves with exercise; morning stiffness lasts 45 minutes. Last year he had an "
        "episode of acute anterior uveitis. HLA-B27 is positive, the C-reactive protein level is 24 mg per liter, and MRI "
        "shows bilateral active sacroiliitis. He has no peripheral arthritis. Despite sequential trials of two different "
        "NSAIDs at maximal doses over 8 weeks together with physiotherapy, disease activity remains high. Which of the "
        "following is the most appropriate next step?",
        [
            "Methotrexate",
            "Long-term oral prednisone",
            "A tumor necrosis factor inhibitor",
            "Sulfasalazine",
            "Hydroxychloroquine",
        ],
        "C",
    ),
    mcq(
        "A 71-year-old man is referred because routine blood testing showed a lymphocyte count of 28,000 per cubic "
        "millimeter. He feels well and has had no fevers, night sweats, or weight loss. There is no lymphadenopathy or "
        "hepatosplenomegaly. The hemoglobin level is 14.1 g per deciliter and the platelet count 210,000 per cubic "
        "millimeter. The peripheral-blood smear shows small mature lymphocytes and smudge cells, and flow cytometry shows "
        "a clonal B-cell population that coexpresses CD5 and CD23, with dim surface CD20 and lambda light-chain "
        "restriction. Which of the following is the most appropriate management?",
        [
            "Ibrutinib",
            "Fludarabine, cyclophosphamide, and rituximab",
            "Allogeneic hematopoietic stem-cell transplantation",
            "Observation with periodic monitoring",
            "Splenectomy",
        ],
        "D",
    ),
    mcq(
        "A 63-year-old man is admitted with 4 days of fever, facial edema, and a pruritic morbilliform rash that began on "
        "the face and trunk and now covers more than 60% of his body-surface area. Allopurinol was started 5 weeks "
        "earlier for recurrent gout. The temperature is 39.1 C, and there is tender cervical and axillary "
        "lymphadenopathy. There are no mucosal erosions or blisters, and the Nikolsky sign is negative. The white-cell "
        "count is 14,800 per cubic millimeter with 22% eosinophils and atypical lymphocytes, the alanine "
        "aminotransferase level is 412 U per liter, and the creatinine level has risen from 1.0 to 2.1 mg per deciliter. "
        "Which of the following is the most likely diagnosis?",
        [
            "Stevens-Johnson syndrome",
            "Drug reaction with eosinophilia and systemic symptoms (DRESS)",
            "Acute generalized exanthematous pustulosis",
            "Serum sickness-like reaction",
            "Measles",
        ],
        "B",
    ),
]


# ---------------------------------------------------------------------------------------------------- real items


def _options(raw: Any, where: str) -> dict[str, str]:
    """Sample files store ``options`` as an object; accept a JSON string too."""
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        raise SystemExit(f"{where}: options is {type(raw).__name__}, expected an object")
    return raw


def _clean(row: dict[str, Any], where: str, keep_idx: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {}
    if keep_idx and "idx" in row:
        item["idx"] = row["idx"]
    for key in KEYS:
        if key not in row:
            raise SystemExit(f"{where}: missing {key!r}")
        item[key] = _options(row[key], where) if key == "options" else row[key]
    return item


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def shortest(rows: list[dict[str, Any]], n: int, ok=lambda row: True) -> list[int]:
    """Positions of the n shortest questions (ties: earlier line) among the first WINDOW rows, in file order."""
    cand = [(len(row["question"]), pos) for pos, row in enumerate(rows[:WINDOW]) if ok(row)]
    if len(cand) < n:
        raise SystemExit(f"only {len(cand)} eligible rows among the first {WINDOW}, need {n}")
    return sorted(pos for _, pos in sorted(cand)[:n])


def pick_short(path: Path) -> list[dict[str, Any]]:
    rows = read_jsonl(path)
    return [_clean(rows[pos], f"{path.name}:{pos + 1}") for pos in shortest(rows, PER_SOURCE)]


def hle_form(row: dict[str, Any]) -> bool:
    opts = _options(row["options"], "HLE")
    idx = row.get("answer_idx")
    return idx in opts and row.get("answer") == f"{idx}. {opts[idx]}\n"


def pick_hle(path: Path) -> list[dict[str, Any]]:
    rows = read_jsonl(path)
    valid = [
        _clean(rows[pos], f"{path.name}:{pos + 1}", keep_idx=True) for pos in shortest(rows, PER_SOURCE - 1, hle_form)
    ]
    bad = [(pos, row) for pos, row in enumerate(rows) if str(row.get("idx")) == HLE_MALFORMED_IDX]
    if len(bad) != 1:
        raise SystemExit(f"{path.name}: expected one row with idx {HLE_MALFORMED_IDX}, found {len(bad)}")
    pos, row = bad[0]
    if hle_form(row):
        raise SystemExit(f"{path.name}: idx {HLE_MALFORMED_IDX} is well formed; it was chosen as the malformed item")
    return [*valid, _clean(row, f"{path.name}:{pos + 1}", keep_idx=True)]


def build(samples: Path) -> dict[str, list[dict[str, Any]]]:
    excerpt = json.loads((samples / "huatuo_eval_excerpt.json").read_text(encoding="utf-8"))

    def real(source: str) -> list[dict[str, Any]]:
        return [_clean(row, f"huatuo_eval_excerpt.json:{source}[{k}]") for k, row in enumerate(excerpt[source])]

    data = {
        "MedMCQA_validation": real("MedMCQA_validation") + MEDMCQA,
        "MedQA_USLME_test": pick_short(samples / "medqa_test.jsonl"),
        "PubMedQA_test": real("PubMedQA_test") + PUBMEDQA,
        "MMLU-Pro_Medical_test": MMLU_PRO,
        "GPQA_Medical_test": real("GPQA_Medical_test") + GPQA,
        "Lancet": LANCET,
        "HumanityLastExam": pick_hle(samples / "HLE_biomed.jsonl"),
        "MedBullets_op4": pick_short(samples / "medbullets_op4.jsonl"),
        "MedBullets_op5": pick_short(samples / "medbullets_op5.jsonl"),
        "MedXpertQA": MEDXPERTQA,
        "NEJM": NEJM,
    }
    return {s: [dict(item) for item in data[s][:PER_SOURCE]] for s in SOURCES}


# ---------------------------------------------------------------------------------------------------- checks

N_OPTIONS = {
    "MedMCQA_validation": 4,
    "MedQA_USLME_test": 5,
    "PubMedQA_test": 3,
    "MMLU-Pro_Medical_test": 10,
    "GPQA_Medical_test": 4,
    "Lancet": 4,
    "MedBullets_op4": 4,
    "MedBullets_op5": 5,
    "MedXpertQA": 10,
    "NEJM": 5,
}


def check(data: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Every problem found; an empty list means the file may be written."""
    problems: list[str] = []
    if tuple(data) != SOURCES:
        problems.append(f"sources {list(data)} != {list(SOURCES)}")
    hle_malformed = 0
    first_seen: dict[str, str] = {}
    for source, items in data.items():
        if len(items) != PER_SOURCE:
            problems.append(f"{source}: {len(items)} items, expected {PER_SOURCE}")
        seen: set[str] = set()
        for pos, item in enumerate(items):
            rec = f"{source}[{pos}]"
            extra = set(item) - set(KEYS) - ({"idx"} if source == "HumanityLastExam" else set())
            if extra or any(k not in item for k in KEYS):
                problems.append(f"{rec}: keys {sorted(item)}")
                continue
            q, opts, idx, ans = item["question"], item["options"], item["answer_idx"], item["answer"]
            if not isinstance(q, str) or not q.strip():
                problems.append(f"{rec}: empty question")
                continue
            if q in seen:
                problems.append(f"{rec}: duplicate question within the source")
            seen.add(q)
            # MedBullets op4 and op5 are the same stems with 4 or 5 options, as in the real file.
            group = "MedBullets" if source.startswith("MedBullets_") else source
            if first_seen.setdefault(q, group) != group:
                problems.append(f"{rec}: question also in {first_seen[q]}")
            if (
                not isinstance(opts, dict)
                or not opts
                or not all(isinstance(v, str) and v.strip() for v in opts.values())
            ):
                problems.append(f"{rec}: options must be a non-empty object of non-empty strings")
                continue
            if source in N_OPTIONS and list(opts) != [chr(ord("A") + k) for k in range(N_OPTIONS[source])]:
                problems.append(f"{rec}: option letters {list(opts)}")
            if source != "HumanityLastExam" and len(set(opts.values())) != len(opts):  # HLE idx 137 repeats one
                problems.append(f"{rec}: repeated option text")
            if not isinstance(idx, str) or idx not in opts:
                problems.append(f"{rec}: answer_idx {idx!r} not in options")
                continue
            if source == "HumanityLastExam":
                if ans != f"{idx}. {opts[idx]}\n":
                    if str(item.get("idx")) == HLE_MALFORMED_IDX:
                        hle_malformed += 1
                    else:
                        problems.append(f"{rec}: answer {ans!r} is not {idx}. options[{idx}]")
            elif ans != opts[idx]:
                problems.append(f"{rec}: answer {ans!r} != options[{idx!r}] {opts[idx]!r}")
            if source == "PubMedQA_test" and (opts != YES_NO_MAYBE or PUBMEDQA_PROMPT not in q):
                problems.append(f"{rec}: not in the PubMedQA layout")
    if hle_malformed != 1:
        problems.append(
            f"HumanityLastExam: {hle_malformed} malformed items, expected exactly 1 (idx {HLE_MALFORMED_IDX})"
        )
    if not any(item["answer_idx"] == "I" for item in data.get("MedXpertQA", [])):
        problems.append("MedXpertQA: no item answers 'I'")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("samples", type=Path, help="folder of evaluation samples (medqa_test.jsonl, HLE_biomed.jsonl, ...)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    args = ap.parse_args(argv)

    data = build(args.samples)
    problems = check(data)
    if problems:
        print("not written; problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    counts = ", ".join(f"{s}={len(v)}" for s, v in data.items())
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes): {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
