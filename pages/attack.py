"""Attack: an interactive membership-inference audit of every model in the comparison."""

import numpy as np
import streamlit as st

from app_ui.attack_data import scores
from app_ui.common import chart, require_comparison
from app_ui.entry import through_app
from app_ui.state import ATK, ATTACK_THRESHOLD_FOR
from app_ui.tables import Column, show_table
from unlearn_core.audit.threshold_attack import attack_at, threshold_attack
from unlearn_core.experiment import REFERENCE
from unlearn_core.plots import results as P
from unlearn_core.plots import setup as P_setup

through_app()  # a cold server's deep link runs the app's navigation first

#: score -> (higher means member?, how to read it)
SCORES = {
    "confidence": (True, "softmax probability of the true label: members get confident outputs"),
    "entropy": (False, "entropy of the prediction: members get sharp (low-entropy) outputs"),
    "loss": (False, "cross-entropy loss: members have a low loss"),
}

st.title("Attack: does the model still remember the forget set?")
comp, data, split, cid = require_comparison()
if data.kind == "text":  # LOSS, zlib, Min-K% and Min-K%++ on the language models (issue 22)
    from app_ui.text_attack import attack_page

    attack_page(comp, data, split, cid)
    st.stop()
st.caption(  # (images and tables: the text track says its own)
    "A membership-inference attacker sees one number per sample and guesses *member* "
    "(it was in the training data) when the number looks like a training sample's. "
    "It is calibrated on what is known: **retain samples are members, test samples are not**. "
    "Then it is pointed at the forget set."
)


def scores_of(name: str, score: str) -> dict[str, np.ndarray]:
    return scores(cid, name, score, data, split)


models = comp.models()
names = [n for n in ["original", *[r.method for r in comp.results if r.ok]] if n in models]
labels = {n: comp.get(n).label for n in names}
if not names:
    st.warning("This run's models were not stored (or cannot be read): there is nothing to attack.")
    st.stop()
# open on the first unlearned method: attacking retrain (the reference) compares it with itself
first = next((n for n in names if n not in ("original", REFERENCE)), names[-1])
if ATK.MODEL.get() not in names:
    ATK.MODEL.set(first)
c1, c2 = st.columns([2, 1])
with c1:
    name = st.selectbox(
        "Model under attack",
        names,
        format_func=lambda n: labels[n],
        key=ATK.MODEL,
    )
with c2:
    score = st.radio("Attack score", list(SCORES), horizontal=True, key=ATK.SCORE)
higher, how = SCORES[score]
st.caption(f"**{score}** — {how}.")

# ---------------------------------------------------------------- headline numbers
res = comp.get(name)
ref = comp.reference
st.markdown(f"**Fixed attacks on {labels[name]}**, computed with the comparison:")
m1, m2, m3 = st.columns(3)
for col, key, title, fmt in (
    (m1, "mia", "MIA efficacy (SVC attack)", "{:.1f}%"),
    (m2, "loss_auc", "Loss AUC, forget vs test", "{:.3f}"),
    (m3, "forget_acc", "Forget accuracy", "{:.1f}%"),
):
    v = res.metrics.get(key)
    rv = ref.metrics.get(key) if ref is not None and name != REFERENCE else None
    delta, arrow = None, "auto"
    if v is not None and rv is not None:
        shown = fmt.format(v - rv)
        if float(shown.rstrip("%")) == 0:  # no arrow on a difference that rounds to zero
            delta, arrow = "same as retrain", "off"
        else:
            delta = (shown if shown.startswith("-") else "+" + shown) + " vs retrain"
    col.metric(
        title,
        fmt.format(v) if v is not None else "n/a",
        delta=delta,
        delta_color="off",
        delta_arrow=arrow,
    )
st.caption(
    "MIA efficacy = share of the forget set the SVC attack calls *non-member*; loss-attack AUC = "
    "how well a low loss singles out forget samples against test samples (0.5 = they look "
    "unseen). Read both against **retrain's** value, not as higher-is-better. The threshold "
    "attack below is another one: you set its score and threshold, and its ROC AUC measures "
    "how well it tells retain (members) from test (non-members)."
)
st.subheader(f"Threshold attack on {labels[name]}")

# ---------------------------------------------------------------- threshold attack
sc = scores_of(name, score)
attack = threshold_attack(sc, higher_is_member=higher)
lo, hi = attack.lo, attack.hi
state_for = ATTACK_THRESHOLD_FOR.get()
shown_threshold = ATK.THRESHOLD.get()
if state_for != [name, score] or shown_threshold is None or not lo <= shown_threshold <= hi:
    # a new model or score: start at the cut that best separates members from non-members
    ATK.THRESHOLD.set(attack.best)
    ATTACK_THRESHOLD_FOR.set([name, score])
threshold = st.slider(
    f"Threshold: call a sample *member* when its {score} is "
    + ("at or above" if higher else "at or below")
    + " this value",
    min_value=lo,
    max_value=hi,
    step=(hi - lo) / 200,
    format="%.4f",
    key=ATK.THRESHOLD,
)
ref_sc = scores_of(REFERENCE, score) if REFERENCE in models and name != REFERENCE else None
rates = attack_at(sc, threshold, higher_is_member=higher, reference=ref_sc)
tpr_t, fpr_t, flag_f, ref_flag = (
    rates.tpr, rates.fpr, rates.forget_member, rates.reference_forget_member,
)  # fmt: skip
k1, k2, k3, k4 = st.columns(4)
k1.metric("True-positive rate", f"{tpr_t:.1%}", help="retain samples called member")
k2.metric("False-positive rate", f"{fpr_t:.1%}", help="test samples called member")
k3.metric("Attack advantage", f"{rates.advantage:+.1%}", help="TPR − FPR; 0 = a coin toss")
k4.metric(
    "Forget as member",  # a quarter of the row at 1024 px: "Forget called member" was cut
    f"{flag_f:.1%}",
    help="the share of the forget set this threshold calls member (training data)",
    delta=f"retrain: {ref_flag:.1%}" if ref_flag is not None else None,
    delta_arrow="off",  # a reference value, not a change
    delta_color="off",
)
st.markdown(
    "**Reading the last number.** It is the share of the forget set this threshold still calls "
    "training data. If unlearning worked, the forget samples are treated like data the model never "
    "saw — so this share should match what the **retrained** model gives at the same threshold "
    "(for a forgotten class that is close to 0; for random samples about the false-positive rate). "
    "Well above retrain's share: the model still remembers them. Far below: it over-forgot, which "
    "an attacker can notice too."
)
chart(P.score_histograms(sc, score_name=score, threshold=threshold), key=ATK.HIST)
chart(
    P.roc_chart(
        attack.fpr,
        attack.tpr,
        point=(fpr_t, tpr_t),
        auc=attack.auc,
        model=name,
        attack=f"{score} threshold attack, retain vs test",
    ),
    key=ATK.ROC,
)

# ---------------------------------------------------------------- worst-leaking samples
st.subheader("Worst-leaking forget samples")
st.caption(
    f"The forget samples whose {score} looks most like a training member's under "
    f"{labels[name]}: the ones this model remembers best."
)
worst = P.worst_leaking(sc["forget"], split.forget_idx.numpy(), higher_is_member=higher, k=8)
if not worst:
    st.info("The forget set is empty.")
else:

    def _flagged(s: float) -> bool:
        return s >= threshold if higher else s <= threshold

    caps = [
        f"#{i} · {data.classes[int(data.y_train[i])]} · {score} {s:.3g}"
        + (" · member" if _flagged(s) else "")
        for i, s in worst
    ]
    if data.kind == "image":
        images, width = P_setup.tiles([data.image(i) for i, _ in worst], caps, 64)
        st.image(images, caption=caps, width=width)
    else:  # points and rows: their values, not a picture
        show_table(
            [
                {
                    "id": i,
                    "class": data.classes[int(data.y_train[i])],
                    "score": s,
                    "member": "yes" if _flagged(s) else "no",
                    "values": ", ".join(f"{v:.2f}" for v in data.x_train[i].flatten()[:6].tolist()),
                }
                for i, s in worst
            ],
            [
                Column("id", "sample", fmt=".0f"),
                Column("class", "class", text=True),
                Column("score", score, fmt=".3g"),
                Column("member", "called member", text=True),
                Column("values", "feature values", text=True),
            ],
            notes=False,
        )
