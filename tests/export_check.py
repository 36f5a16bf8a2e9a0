"""Checks a metasac-export .npz against actions computed in C (run by tests/test_export.c).

usage: export_check.py POLICY.npz CASES.txt TASK ALGO

CASES.txt: one line per observation: obs_dim floats, then act_dim floats (pi_forward_f's
deterministic action for that observation). The policy is evaluated here with NumPy exactly as
docs/EXPORT.md describes it; exit 0 when every action agrees within 1e-5, 1 otherwise (with the
reason on stderr).
"""
import json
import sys

import numpy as np

TOL = 1e-5


def fail(msg):
    print("export_check: " + msg, file=sys.stderr)
    sys.exit(1)


def forward(p, obs):
    """docs/EXPORT.md's forward pass: the deterministic action c * tanh(mu) + b."""
    h1 = np.maximum(obs @ p["l1_w"].T + p["l1_b"], 0.0)
    h2 = np.maximum(h1 @ p["l2_w"].T + p["l2_b"], 0.0)
    out = h2 @ p["l3_w"].T + p["l3_b"]
    act_dim = p["action_low"].shape[0]
    mu = out[:, :act_dim]  # out[:, act_dim:] is the raw log-std, unused here
    c = (p["action_high"] - p["action_low"]) / 2
    b = (p["action_high"] + p["action_low"]) / 2
    return c * np.tanh(mu) + b


def main():
    if len(sys.argv) != 5:
        fail(__doc__)
    path, cases, task, algo = sys.argv[1:]
    try:
        z = np.load(path, allow_pickle=False)
        p = {k: z[k] for k in z.files}
    except Exception as e:  # noqa: BLE001 - any load failure is the finding
        fail("np.load(%s) failed: %r" % (path, e))
    want = {"l1_w", "l1_b", "l2_w", "l2_b", "l3_w", "l3_b", "action_low", "action_high",
            "metadata"}
    if set(p) != want:
        fail("members %s, expected %s" % (sorted(p), sorted(want)))
    meta = json.loads(p["metadata"].item())
    if meta.get("task") != task or meta.get("algo") != algo:
        fail("metadata %s is not %s/%s" % (meta, task, algo))
    for k in want - {"metadata"}:
        if p[k].dtype != np.float32:
            fail("%s has dtype %s, expected float32" % (k, p[k].dtype))
    obs_dim, act_dim, hidden = meta["obs_dim"], meta["act_dim"], meta["hidden"]
    shapes = {"l1_w": (hidden, obs_dim), "l1_b": (hidden,), "l2_w": (hidden, hidden),
              "l2_b": (hidden,), "l3_w": (2 * act_dim, hidden), "l3_b": (2 * act_dim,),
              "action_low": (act_dim,), "action_high": (act_dim,)}
    for k, s in shapes.items():
        if p[k].shape != s:
            fail("%s has shape %s, expected %s" % (k, p[k].shape, s))
    rows = np.loadtxt(cases, dtype=np.float64, ndmin=2)
    if rows.shape[1] != obs_dim + act_dim:
        fail("%s: %d columns, expected obs %d + act %d" % (cases, rows.shape[1], obs_dim, act_dim))
    obs, expect = rows[:, :obs_dim].astype(np.float32), rows[:, obs_dim:]
    p64 = {k: v.astype(np.float64) for k, v in p.items() if k != "metadata"}
    got = forward(p64, obs.astype(np.float64))
    err = np.abs(got - expect)
    if not np.all(err <= TOL):
        i, j = np.unravel_index(np.argmax(err), err.shape)
        fail("action mismatch: max |numpy - C| = %.3g at observation %d, action %d "
             "(numpy %.7g, C %.7g)" % (err[i, j], i, j, got[i, j], expect[i, j]))
    print("export_check: %d observations, max |numpy - C| = %.3g" % (len(rows), err.max()))


if __name__ == "__main__":
    main()
