#!/usr/bin/python3
"""Independent PyTorch reference for the metasac learner (SAC-v1, SAC-v2, Meta-SAC, TD3).

What it produces
    tests/data/ref_<case>.bin for the cases sac_v1, sac_v2, meta_sac, meta_sac_d1,
    meta_sac_d2, meta_sac_unscaled and meta_sac_clip: the initial state, the inputs (batches,
    policy noise, D0) and the state, losses and debug values after each of 3 consecutive learner
    updates; and ref_td3.bin: 4 consecutive TD3 updates (the delayed actor step and the Polyak
    steps at updates 1 and 3), see run_td3 for its definition and tensors. The math is
    implemented from docs/ALGORITHM.md sections 1-4 and 7 with PyTorch autograd (never from
    the C code, which is hand-written backprop), so the C test tests/test_reference.c checks
    the C learner against an independent implementation.

How to run (from the repo root; needs Debian's python with torch 1.13 and numpy)
    /usr/bin/python3 tests/ref/make_ref.py              # writes tests/data/ref_*.bin
    /usr/bin/python3 tests/ref/make_ref.py --dump FILE  # lists names and shapes of a file
    /usr/bin/python3 tests/ref/make_ref.py --compare64  # float32 vs float64 sensitivity report
The output is deterministic (same bytes on every run). CI does NOT need torch: the .bin files
are committed and the C test only reads them. Rerun this script only when the math changes.

File format (little-endian): 8 bytes "MSACREF1"; u32 version = 1; u32 count; then count
records: u32 name_len; name (ASCII, no NUL); u32 ndim; u32 dims[ndim]; f32 data row-major.
Scalars are ndim 1, dims [1].

Sizes: obs 5, act 3, hidden 16 (obs->16->ReLU->16->ReLU->heads), B 8, |D0| 6.
Action bounds low [-1,-0.4,-2], high [1,0.4,1] (non-trivial scale c and bias b).

Precision
    The run (networks, optimizer states, SAC losses, critic/policy/alpha steps) is float32, as
    in the C code. The Meta-SAC metagradient path (g, g_ent, the virtual RMSProp step phi',
    L_meta, meta_action and G) is computed in float64 from float64 copies of the float32 state
    and rounded to float32 when written / used (G feeds the float32 Adam step on lambda).
    G is obtained by autograd in the most direct way: alpha is a leaf tensor, g = dL_pi/dphi
    with create_graph=True, phi' = phi - lr*g/sqrt(rho*v + (1-rho)*g^2 + eps) as a function of
    alpha, G = alpha * dL_meta(phi')/dalpha. As a check the script also prints the closed form
    of docs/ALGORITHM.md section 4 (sum_k h_k J_k) and a central finite difference, both in
    float64.

Things deliberately exercised by the data
    - Each optimizer has its own learning rate (cfg.lr = [critic, policy, alpha] =
      [3e-4, 1e-3, 5e-3]; the policy's is also the rate of Meta-SAC's RMSProp and of its virtual
      step), so a step taken with another optimizer's rate is off by a factor >= 3.
    - Non-zero biases (uniform(-0.1, 0.1)) so bias gradients are tested.
    - Log-std clamp masking, both bounds: the log-std head bias of action unit 0 is 2.0, so its
      raw log-std straddles the upper clamp 2 (some entries clamped, gradient masked, some not);
      the bias of unit 1 is -20.0, so it straddles the lower clamp -20. The script prints the
      counts of clamped entries at init.
    - A few xi / xi_next entries are scaled by 2.5-3 (large noise).
    - Conditioning: every noise entry whose pre-tanh value |mu + sigma*xi| under the initial
      policy exceeds U_MAX = 4 is halved (repeatedly) when the batch is made. With sigma = e^2
      for upper-clamped entries, plain N(0,1) noise put tanh deep in float32 saturation
      (1 - y^2 ~ 1e-6), where log(c(1-y^2)+1e-6) and its gradient have percent-level float32
      error; float32 and float64 runs then disagreed by up to 20% (RMSProp/Adam first steps are
      sign-like and amplify it). With the shrink, `--compare64` shows float32 and float64 runs
      of the whole script agreeing to ~1e-5 relative on every written tensor.
    - Target critics start as copies of the critics plus N(0, 0.01^2) noise (Polyak visible).
    - done has both 0 and 1 in every batch; actions in the batches lie inside the bounds.
    - Meta-SAC cases start with log_alpha = -0.5 (init.log_alpha), so the clamp at 0 is not
      what moves lambda. meta_sac_clip scales the critics' last layer by 50 so |G| > 0.05.

Interpretations (where docs/ALGORITHM.md leaves a choice)
    - Meta-SAC debug values pi_action, pi_logp, target_y, q1, q2 and the losses q_loss, pi_loss
      refer to the batch of the REAL updates (B2; B1 in meta_sac_d2), with the new alpha.
      dbg.g / dbg.g_ent are at B1 with the alpha before the meta step (steps 1-2).
    - dbg.meta_action is the deterministic action of phi' on the states the meta loss uses:
      D0 ([nd0, act]) normally, B1's states ([B, act]) in meta_sac_d1.
    - In SAC-v2 the policy loss and the critic target use alpha = exp(log_alpha) before this
      update's alpha step.
    - meta_sac_clip: the critics' last-layer weights are scaled by 50 before the target critics
      are copied from them (so the targets are scaled too).

Expected features of the numbers (not bugs)
    - In update 0 G is tiny (~1e-7..1e-6): with v = 0 the virtual step is sign-like,
      phi' ~ phi - 10*lr*sign(g), independent of alpha, and J_k ~ eps/D_k^3 only matters where
      g_k is ~1e-6. Adam's first step on lambda is still ~lr*sign(G) (|G| >> Adam eps 1e-8).
    - Entries clamped at -20 contribute +20 to -log pi, so log pi, y and the losses are large
      (e.g. SAC-v2 q_loss ~ 500); float32 resolves them fine (see --compare64).
    - Float32 autograd for G (--compare64 prints it) agrees with the float64 closed form to
      ~1e-6 relative except in update 0 (up to ~2%, G ~ 3e-7 there); float64 is used anyway.
"""
import hashlib
import math
import os
import struct
import sys

import numpy as np
import torch

OBS, ACT, HID, B, ND0 = 5, 3, 16, 8, 6
LOW = [-1.0, -0.4, -2.0]
HIGH = [1.0, 0.4, 1.0]
GAMMA, TAU = 0.99, 0.005
# Distinct learning rates per optimizer, so that a learner that uses one optimizer's rate for
# another's step fails the C test: the step of the network it moves changes by a factor >= 3
# (the test's tolerance is 1% of the step). critic Adam; policy Adam (SAC, TD3) or RMSProp
# (Meta-SAC: the real step and the virtual step of the metagradient); log-alpha Adam (SAC-v2,
# Meta-SAC). Written to cfg.lr so the C test uses the same values.
LR_Q, LR_PI, LR_ALPHA = 3e-4, 1e-3, 5e-3
BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
RHO, RMS_EPS = 0.99, 1e-12
LOGSTD_MIN, LOGSTD_MAX = -20.0, 2.0
META_CLIP = 0.05
ALPHA_V1 = 0.2
TARGET_ENTROPY = -float(ACT)
NUPD = 3
# dtype of the run; float32 for the files. --compare64 reruns everything in float64 to show how
# sensitive each written tensor is to float32 rounding (a guide for the C test's tolerances).
RUN_DTYPE = torch.float32
LS_BIAS = (2.0, -20.0)  # initial log-std head biases of action units 0 and 1 (see initial_state)
META_DTYPE = torch.float64  # dtype of the metagradient path (float32 only for --compare64)
U_MAX = 4.0             # noise is shrunk so that |mu + sigma*xi| <= U_MAX under the initial policy
LAYERS = ("l1", "l2", "l3")
KINDS = ("weight", "bias")
XI_PAIRS = (("obs", "xi"), ("next_obs", "xi_next"))


# ----------------------------------------------------------------------------- file format
def write_ref(path, records):
    out = bytearray(b"MSACREF1")
    out += struct.pack("<II", 1, len(records))
    seen = set()
    for name, t in records:
        assert name not in seen, name
        seen.add(name)
        a = np.ascontiguousarray(np.asarray(t, dtype="<f4"))
        if a.ndim == 0:
            a = a.reshape(1)
        assert np.all(np.isfinite(a)), name
        nb = name.encode("ascii")
        out += struct.pack("<I", len(nb)) + nb
        out += struct.pack("<I", a.ndim) + struct.pack("<%dI" % a.ndim, *a.shape)
        out += a.tobytes()
    with open(path, "wb") as f:
        f.write(bytes(out))
    return bytes(out)


def read_ref(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"MSACREF1", "bad magic"
    version, count = struct.unpack_from("<II", data, 8)
    assert version == 1
    off, recs = 16, []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, off); off += 4
        name = data[off:off + n].decode("ascii"); off += n
        (nd,) = struct.unpack_from("<I", data, off); off += 4
        dims = struct.unpack_from("<%dI" % nd, data, off); off += 4 * nd
        cnt = int(np.prod(dims))
        arr = np.frombuffer(data, dtype="<f4", count=cnt, offset=off).reshape(dims); off += 4 * cnt
        recs.append((name, arr))
    assert off == len(data), "trailing bytes"
    return recs


def dump(path):
    recs = read_ref(path)
    print("%s: %d tensors, %d bytes" % (path, len(recs), os.path.getsize(path)))
    for name, a in recs:
        s = (" = %.8g" % a.reshape(-1)[0]) if a.size == 1 else ""
        print("  %-40s %s%s" % (name, list(a.shape), s))


# ----------------------------------------------------------------------------- networks
# A network is a dict "l1.weight" -> tensor ([out, in], y = x W^T + b). The policy's l3 is the
# two heads fused: rows 0..ACT-1 mean, rows ACT..2*ACT-1 raw log-std.
def names():
    return ["%s.%s" % (l, k) for l in LAYERS for k in KINDS]


def mlp(p, x):
    h = torch.relu(x @ p["l1.weight"].T + p["l1.bias"])
    h = torch.relu(h @ p["l2.weight"].T + p["l2.bias"])
    return h @ p["l3.weight"].T + p["l3.bias"]


def q_value(p, obs, act):
    return mlp(p, torch.cat([obs, act], dim=1)).squeeze(1)


def policy_heads(p, obs):
    out = mlp(p, obs)
    mu, raw = out[:, :ACT], out[:, ACT:]
    # torch.clamp passes the gradient only inside [min, max] (zero when clamped).
    return mu, raw, torch.clamp(raw, LOGSTD_MIN, LOGSTD_MAX)


def policy_sample(p, obs, xi, c, b):
    """Reparameterised sample a = c*tanh(mu + sigma*xi) + b and its log-prob
    (docs/ALGORITHM.md section 1)."""
    mu, _, logstd = policy_heads(p, obs)
    u = mu + torch.exp(logstd) * xi
    y = torch.tanh(u)
    # -xi^2/2 is a constant under reparameterisation (xi is given).
    logp = (-0.5 * xi ** 2 - logstd - 0.5 * math.log(2 * math.pi)
            - torch.log(c * (1 - y ** 2) + 1e-6)).sum(dim=1)
    return c * y + b, logp


def det_action(p, obs, c, b):
    mu, _, _ = policy_heads(p, obs)
    return c * torch.tanh(mu) + b


def min_q(q1, q2, obs, act):
    return torch.min(q_value(q1, obs, act), q_value(q2, obs, act))


def policy_loss(p, q1, q2, obs, xi, alpha, c, b):
    a, logp = policy_sample(p, obs, xi, c, b)
    return (alpha * logp - min_q(q1, q2, obs, a)).mean(), a, logp


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


# ----------------------------------------------------------------------------- init / inputs
def xavier(gen, out_f, in_f):
    bound = math.sqrt(6.0 / (in_f + out_f))
    return (torch.rand(out_f, in_f, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def make_net(gen, sizes):
    p = {}
    for i, l in enumerate(LAYERS):
        p[l + ".weight"] = xavier(gen, sizes[i + 1], sizes[i])
        p[l + ".bias"] = (torch.rand(sizes[i + 1], generator=gen, dtype=torch.float64) * 2 - 1) * 0.1
    return p


def to32(p):
    # values rounded to float32 first, so the float64 comparison run starts from the same state
    return {k: v.to(torch.float32).to(RUN_DTYPE).clone().requires_grad_(True) for k, v in p.items()}


def to64(p, dtype=torch.float64):
    return {k: v.detach().to(dtype) for k, v in p.items()}


def make_batch(gen, pol):
    low = torch.tensor(LOW, dtype=torch.float64)
    high = torch.tensor(HIGH, dtype=torch.float64)
    obs = torch.randn(B, OBS, generator=gen, dtype=torch.float64)
    act = low + (high - low) * (0.02 + 0.96 * torch.rand(B, ACT, generator=gen, dtype=torch.float64))
    rew = torch.randn(B, generator=gen, dtype=torch.float64)
    next_obs = obs + 0.3 * torch.randn(B, OBS, generator=gen, dtype=torch.float64)
    done = (torch.rand(B, generator=gen, dtype=torch.float64) < 0.3).to(torch.float64)
    done[0], done[1] = 0.0, 1.0  # some of each
    xi = torch.randn(B, ACT, generator=gen, dtype=torch.float64)
    xi_next = torch.randn(B, ACT, generator=gen, dtype=torch.float64)
    # a couple of large noise values
    xi[2, 2] *= 2.5
    xi[5, 2] *= 2.5
    xi[6, 1] *= 3.0
    xi_next[3, 2] *= 2.5
    xi_next[6, 2] *= 2.5
    # Keep tanh out of float32 saturation: halve every noise entry whose pre-tanh value
    # u = mu + sigma*xi under the INITIAL policy exceeds U_MAX in magnitude. (Where |u| > ~6,
    # 1 - y^2 < 1e-5 and its float32 rounding error, amplified by log(c(1-y^2)+1e-6), makes any
    # float32 implementation disagree with the exact value by percents; sigma is 7.4 for the
    # entries clamped at the upper bound.)
    p64 = to64(pol)
    with torch.no_grad():
        for o, x in ((obs, xi), (next_obs, xi_next)):
            mu, _, ls = policy_heads(p64, o)
            while True:
                big = (mu + torch.exp(ls) * x).abs() > U_MAX
                if not bool(big.any()):
                    break
                x[big] *= 0.5
    bt = dict(obs=obs, act=act, rew=rew, next_obs=next_obs, done=done, xi=xi, xi_next=xi_next)
    return {k: v.to(torch.float32).to(RUN_DTYPE) for k, v in bt.items()}


def freeze(recs):
    """Snapshot records to independent float32 numpy copies (parameters change in place)."""
    return [(n, np.array(torch.as_tensor(t).detach().cpu().numpy() if torch.is_tensor(t) else t,
                         dtype=np.float64).astype(np.float32)) for n, t in recs]


def batch_records(prefix, bt):
    return [("%s.%s" % (prefix, k), bt[k]) for k in ("obs", "act", "rew", "next_obs", "done", "xi", "xi_next")]


def net_records(prefix, nets):
    recs = []
    for nn in ("policy", "q1", "q2", "q1_target", "q2_target"):
        for k in names():
            recs.append(("%s.%s.%s" % (prefix, nn, k), nets[nn][k].detach().clone()))
    return recs


def initial_state(seed, critic_last_scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    pol = make_net(gen, [OBS, HID, HID, 2 * ACT])
    pol["l3.bias"][ACT + 0] = LS_BIAS[0]   # raw log-std of unit 0 around the upper clamp 2
    pol["l3.bias"][ACT + 1] = LS_BIAS[1]   # unit 1 around the lower clamp -20
    q1 = make_net(gen, [OBS + ACT, HID, HID, 1])
    q2 = make_net(gen, [OBS + ACT, HID, HID, 1])
    for q in (q1, q2):
        q["l3.weight"] = q["l3.weight"] * critic_last_scale
    q1t = {k: v + 0.01 * torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in q1.items()}
    q2t = {k: v + 0.01 * torch.randn(v.shape, generator=gen, dtype=torch.float64) for k, v in q2.items()}
    nets = {"policy": to32(pol), "q1": to32(q1), "q2": to32(q2),
            "q1_target": to32(q1t), "q2_target": to32(q2t)}
    for nn in ("q1_target", "q2_target"):
        for v in nets[nn].values():
            v.requires_grad_(False)
    return gen, nets


# ----------------------------------------------------------------------------- update pieces
def params(p):
    return [p[k] for k in names()]


def critic_step(nets, opt_q, bt, alpha, c, b):
    """docs/ALGORITHM.md section 2 critic update. Returns q_loss, y, q1, q2 (before the step)."""
    pol, q1, q2 = nets["policy"], nets["q1"], nets["q2"]
    with torch.no_grad():
        a2, logp2 = policy_sample(pol, bt["next_obs"], bt["xi_next"], c, b)
        qt = min_q(nets["q1_target"], nets["q2_target"], bt["next_obs"], a2)
        y = bt["rew"] + GAMMA * (1 - bt["done"]) * (qt - alpha * logp2)
    v1 = q_value(q1, bt["obs"], bt["act"])
    v2 = q_value(q2, bt["obs"], bt["act"])
    loss = ((v1 - y) ** 2).mean() + ((v2 - y) ** 2).mean()
    opt_q.zero_grad()
    grads = torch.autograd.grad(loss, params(q1) + params(q2))
    for t, g in zip(params(q1) + params(q2), grads):
        t.grad = g
    opt_q.step()
    return loss.detach(), y, v1.detach(), v2.detach()


def policy_grad(nets, bt, alpha, c, b):
    """Loss and gradient w.r.t. the policy only (critic weights are not updated by it)."""
    pol = nets["policy"]
    loss, a, logp = policy_loss(pol, nets["q1"], nets["q2"], bt["obs"], bt["xi"], alpha, c, b)
    grads = torch.autograd.grad(loss, params(pol))
    return loss.detach(), a.detach(), logp.detach(), grads


def polyak(nets):
    with torch.no_grad():
        for src, dst in (("q1", "q1_target"), ("q2", "q2_target")):
            for k in names():
                nets[dst][k].mul_(1 - TAU).add_(TAU * nets[src][k])


def clamp_stats(nets, obs_list, xi_list):
    """Number of clamped raw log-std entries (upper, lower) at init, and max |u| of the samples."""
    hi = lo = tot = 0
    umax = 0.0
    with torch.no_grad():
        for o in obs_list:
            _, raw, _ = policy_heads(nets["policy"], o)
            hi += int((raw > LOGSTD_MAX).sum())
            lo += int((raw < LOGSTD_MIN).sum())
            tot += raw.numel()
        for o, x in xi_list:
            mu, _, ls = policy_heads(nets["policy"], o)
            umax = max(umax, float((mu + torch.exp(ls) * x).abs().max()))
    return "clamped raw log-std entries at init: %d above 2, %d below -20, of %d; max |u| %.2f" % (
        hi, lo, tot, umax)


def bounds():
    low = torch.tensor(LOW, dtype=torch.float32)
    high = torch.tensor(HIGH, dtype=torch.float32)
    return ((high - low) / 2).to(RUN_DTYPE), ((high + low) / 2).to(RUN_DTYPE)


# ----------------------------------------------------------------------------- SAC v1 / v2
def run_sac(case, seed, v2):
    gen, nets = initial_state(seed)
    c, b = bounds()
    log_alpha = torch.zeros(1, dtype=RUN_DTYPE, requires_grad=True)
    recs = cfg_records() + net_records("init", nets) + [("init.log_alpha", log_alpha.detach().clone())]
    opt_q = torch.optim.Adam(params(nets["q1"]) + params(nets["q2"]), lr=LR_Q, betas=BETAS, eps=ADAM_EPS)
    opt_pi = torch.optim.Adam(params(nets["policy"]), lr=LR_PI, betas=BETAS, eps=ADAM_EPS)
    opt_a = torch.optim.Adam([log_alpha], lr=LR_ALPHA, betas=BETAS, eps=ADAM_EPS)
    batches = [make_batch(gen, nets["policy"]) for _ in range(NUPD)]
    for k, bt in enumerate(batches):
        recs += batch_records("u%d.b" % k, bt)
    recs = freeze(recs)
    print("[%s] %s" % (case, clamp_stats(nets, [x["obs"] for x in batches],
                                         [(x[o], x[n]) for x in batches for o, n in XI_PAIRS])))
    for k, bt in enumerate(batches):
        alpha = torch.exp(log_alpha.detach()) if v2 else torch.tensor([ALPHA_V1], dtype=RUN_DTYPE)
        q_loss, y, v1, v2v = critic_step(nets, opt_q, bt, alpha, c, b)
        pi_loss, a, logp, grads = policy_grad(nets, bt, alpha, c, b)
        opt_pi.zero_grad()
        for t, g in zip(params(nets["policy"]), grads):
            t.grad = g
        opt_pi.step()
        out = []
        if v2:
            a_loss = -(log_alpha * (logp + TARGET_ENTROPY).mean()).sum()
            opt_a.zero_grad()
            a_loss.backward()
            opt_a.step()
            out.append(("u%d.out.alpha_loss" % k, a_loss.detach()))
        polyak(nets)
        recs += net_records("u%d.out" % k, nets)
        recs += [("u%d.out.log_alpha" % k, log_alpha.detach().clone()),
                 ("u%d.out.q_loss" % k, q_loss), ("u%d.out.pi_loss" % k, pi_loss)] + out
        recs += [("u%d.dbg.pi_action" % k, a), ("u%d.dbg.pi_logp" % k, logp),
                 ("u%d.dbg.target_y" % k, y), ("u%d.dbg.q1" % k, v1), ("u%d.dbg.q2" % k, v2v)]
        recs = freeze(recs)
        print("[%s] u%d q_loss %.6g pi_loss %.6g log_alpha %.6g" % (case, k, q_loss.item(), pi_loss.item(), log_alpha.item()))
    return recs


# ----------------------------------------------------------------------------- Meta-SAC
def metagradient(nets, v_state, lam, bt1, meta_obs, scaled, check):
    """docs/ALGORITHM.md section 4 steps 1-5 (before the clip) in float64 by autograd.
    Returns G, L_meta(phi'), g, g_ent, meta_action."""
    pol = {k: t.requires_grad_(True) for k, t in to64(nets["policy"], META_DTYPE).items()}
    q1, q2 = to64(nets["q1"], META_DTYPE), to64(nets["q2"], META_DTYPE)
    v = [t.to(META_DTYPE) for t in v_state]
    c32, b32 = bounds()
    c, b = c32.to(META_DTYPE), b32.to(META_DTYPE)
    obs, xi = bt1["obs"].to(META_DTYPE), bt1["xi"].to(META_DTYPE)
    meta_obs = meta_obs.to(META_DTYPE)
    mc, mb = (c, b) if scaled else (torch.ones_like(c), torch.zeros_like(b))
    P = params(pol)

    def virtual_meta(alpha, create):
        loss, _, _ = policy_loss(pol, q1, q2, obs, xi, alpha, c, b)
        g = torch.autograd.grad(loss, P, create_graph=create)
        new = {}
        for name, p, gk, vk in zip(names(), P, g, v):
            new[name] = p - LR_PI * gk / torch.sqrt(RHO * vk + (1 - RHO) * gk ** 2 + RMS_EPS)
        act = det_action(new, meta_obs, mc, mb)
        lm = -min_q(q1, q2, meta_obs, act).mean()
        return lm, g, new, act

    alpha0 = math.exp(float(lam))
    alpha = torch.tensor(alpha0, dtype=META_DTYPE, requires_grad=True)
    lm, g, new, act = virtual_meta(alpha, True)
    (dl_dalpha,) = torch.autograd.grad(lm, alpha, retain_graph=True)
    G = alpha0 * dl_dalpha.item()
    # g_ent = d/dphi mean log pi (a separate pass, for the debug output and the checks)
    _, logp = policy_sample(pol, obs, xi, c, b)
    g_ent = torch.autograd.grad(logp.mean(), P)
    g_det = [t.detach() for t in g]
    if check:
        # closed form of docs/ALGORITHM.md section 4 step 3:
        # h = dL_meta/dphi', J_k = -lr g_ent (rho v + eps)/D^3
        newd = {k: t.detach().requires_grad_(True) for k, t in new.items()}
        lmh = -min_q(q1, q2, meta_obs, det_action(newd, meta_obs, mc, mb)).mean()
        h = torch.autograd.grad(lmh, params(newd))
        G_cf = 0.0
        for hk, gk, gek, vk in zip(h, g_det, g_ent, v):
            D = torch.sqrt(RHO * vk + (1 - RHO) * gk ** 2 + RMS_EPS)
            J = -LR_PI * gek * (RHO * vk + RMS_EPS) / D ** 3
            G_cf += float((hk * J).sum())
        G_cf *= alpha0
        # central finite difference in lambda
        dl = 1e-6
        fp = virtual_meta(torch.tensor(math.exp(float(lam) + dl), dtype=META_DTYPE), False)[0].item()
        fm = virtual_meta(torch.tensor(math.exp(float(lam) - dl), dtype=META_DTYPE), False)[0].item()
        G_fd = (fp - fm) / (2 * dl)
        # linearity check g = alpha*g_ent + g_q is implicit in autograd; compare with closed form
        print("      G autograd %.10g  closed-form %.10g  finite-diff %.10g" % (G, G_cf, G_fd))
    return (G, lm.detach(), flat(g_det), flat([t.detach() for t in g_ent]), act.detach())


def run_meta(case, seed, variant="default", critic_last_scale=1.0, check=True):
    gen, nets = initial_state(seed, critic_last_scale)
    c, b = bounds()
    lam = torch.full((1,), -0.5, dtype=RUN_DTYPE, requires_grad=True)
    recs = cfg_records() + net_records("init", nets) + [("init.log_alpha", lam.detach().clone())]
    opt_q = torch.optim.Adam(params(nets["q1"]) + params(nets["q2"]), lr=LR_Q, betas=BETAS, eps=ADAM_EPS)
    opt_lam = torch.optim.Adam([lam], lr=LR_ALPHA, betas=BETAS, eps=ADAM_EPS)
    v_state = [torch.zeros_like(t) for t in params(nets["policy"])]
    pairs = [(make_batch(gen, nets["policy"]), make_batch(gen, nets["policy"])) for _ in range(NUPD)]
    d0 = (0.5 * torch.randn(ND0, OBS, generator=gen, dtype=torch.float64)).to(torch.float32).to(RUN_DTYPE)
    for k, (b1, b2) in enumerate(pairs):
        recs += batch_records("u%d.b1" % k, b1) + batch_records("u%d.b2" % k, b2)
    recs.append(("d0", d0))
    recs = freeze(recs)
    print("[%s] %s" % (case, clamp_stats(nets, [x["obs"] for p in pairs for x in p] + [d0],
                                         [(x[o], x[n]) for p in pairs for x in p for o, n in XI_PAIRS])))
    Gs = []
    for k, (b1, b2) in enumerate(pairs):
        # steps 1-5: metagradient (float64), clip, Adam on lambda, clamp
        meta_obs = b1["obs"] if variant == "d1" else d0
        G, lm, g, g_ent, mact = metagradient(nets, v_state, lam.item(), b1, meta_obs,
                                             variant != "unscaled", check)
        Gc = G * META_CLIP / (abs(G) + 1e-6) if abs(G) > META_CLIP else G
        Gs.append((G, abs(G) > META_CLIP))
        opt_lam.zero_grad()
        lam.grad = torch.tensor([Gc], dtype=RUN_DTYPE)
        opt_lam.step()
        with torch.no_grad():
            lam.clamp_(max=0.0)
        # step 6: resampling
        bt = b1 if variant == "d2" else b2
        alpha = torch.exp(lam.detach())
        # step 7: critic update with the new alpha
        q_loss, y, v1, v2 = critic_step(nets, opt_q, bt, alpha, c, b)
        # step 8: real policy update with the updated critics, RMSProp
        pi_loss, a, logp, grads = policy_grad(nets, bt, alpha, c, b)
        with torch.no_grad():
            for p, gk, vk in zip(params(nets["policy"]), grads, v_state):
                vk.mul_(RHO).add_((1 - RHO) * gk * gk).add_(RMS_EPS)
                p.sub_(LR_PI * gk / torch.sqrt(vk))
        # step 9
        polyak(nets)
        recs += net_records("u%d.out" % k, nets)
        recs += [("u%d.out.policy_v.%s" % (k, n), vk.clone()) for n, vk in zip(names(), v_state)]
        recs += [("u%d.out.log_alpha" % k, lam.detach().clone()),
                 ("u%d.out.q_loss" % k, q_loss), ("u%d.out.pi_loss" % k, pi_loss),
                 ("u%d.out.meta_loss" % k, lm.reshape(1)),
                 ("u%d.out.meta_grad" % k, torch.tensor([G]))]
        recs += [("u%d.dbg.pi_action" % k, a), ("u%d.dbg.pi_logp" % k, logp),
                 ("u%d.dbg.target_y" % k, y), ("u%d.dbg.q1" % k, v1), ("u%d.dbg.q2" % k, v2),
                 ("u%d.dbg.g" % k, g), ("u%d.dbg.g_ent" % k, g_ent),
                 ("u%d.dbg.meta_action" % k, mact)]
        recs = freeze(recs)
        print("[%s] u%d G %.8g (%s) log_alpha %.8g meta_loss %.6g q_loss %.6g pi_loss %.6g"
              % (case, k, G, "CLIPPED" if abs(G) > META_CLIP else "unclipped", lam.item(),
                 lm.item(), q_loss.item(), pi_loss.item()))
    return recs, Gs


# ----------------------------------------------------------------------------- TD3
# TD3 as docs/ALGORITHM.md section 7 defines it (Fujimoto et al. 2018): deterministic actor
# a = c*tanh(mu(s)) + b from the policy network's mean head (the log-std rows are unused), a
# target actor, twin critics with target policy smoothing, one critic Adam step every update and,
# every TD3_DELAY-th update, one actor Adam step on -mean Q1(s, a(s)) followed by Polyak on the
# target critics and the target actor.
TD3_NOISE, TD3_NOISE_CLIP, TD3_DELAY, TD3_NUPD = 0.2, 0.5, 2, 4


def td3_target_action(pt, next_obs, xi_next, c, b, low, high):
    """a' = clip(c*tanh(mu_bar(s')) + b + clip(0.2*c*xi, -0.5*c, 0.5*c), low, high)."""
    noise = torch.max(torch.min(TD3_NOISE * c * xi_next, TD3_NOISE_CLIP * c), -TD3_NOISE_CLIP * c)
    a = det_action(pt, next_obs, c, b) + noise
    return torch.max(torch.min(a, high), low)


def make_batch_td3(gen):
    """A batch like make_batch's (no log-std conditioning: TD3 never samples from the
    log-std head) with hand-set large xi_next entries so the noise clip is exercised."""
    low = torch.tensor(LOW, dtype=torch.float64)
    high = torch.tensor(HIGH, dtype=torch.float64)
    obs = torch.randn(B, OBS, generator=gen, dtype=torch.float64)
    act = low + (high - low) * (0.02 + 0.96 * torch.rand(B, ACT, generator=gen, dtype=torch.float64))
    rew = torch.randn(B, generator=gen, dtype=torch.float64)
    next_obs = obs + 0.3 * torch.randn(B, OBS, generator=gen, dtype=torch.float64)
    done = (torch.rand(B, generator=gen, dtype=torch.float64) < 0.3).to(torch.float64)
    done[0], done[1] = 0.0, 1.0
    xi = torch.randn(B, ACT, generator=gen, dtype=torch.float64)
    xi_next = torch.randn(B, ACT, generator=gen, dtype=torch.float64)
    # |0.2*xi| > 0.5 <=> |xi| > 2.5: these are clipped to +-0.5c (both signs, every unit)
    xi_next[0, 0], xi_next[2, 1], xi_next[3, 2] = 4.0, -3.5, 5.0
    xi_next[5, 0], xi_next[6, 1], xi_next[7, 2] = -4.5, 3.0, -3.2
    # mean unit 0 of the target actor is biased to ~+0.9 (see initial_state_td3): a large
    # positive noise pushes it above high[0] = 1, a large negative one stays inside
    xi_next[4, 0] = 3.8
    bt = dict(obs=obs, act=act, rew=rew, next_obs=next_obs, done=done, xi=xi, xi_next=xi_next)
    return {k: v.to(torch.float32).to(RUN_DTYPE) for k, v in bt.items()}


def initial_state_td3(seed):
    gen, nets = initial_state(seed)
    with torch.no_grad():
        # mean head biases: unit 0 near tanh ~ +0.85 and unit 2 near tanh ~ -0.8, so target
        # actions plus the (clipped) smoothing noise leave [low, high] on some rows (action clip)
        nets["policy"]["l3.bias"][0] = 1.3
        nets["policy"]["l3.bias"][2] = -1.1
    pt = {k: (v.detach().to(torch.float64) + 0.01 * torch.randn(v.shape, generator=gen, dtype=torch.float64))
          for k, v in nets["policy"].items()}
    nets["policy_target"] = to32(pt)
    for v in nets["policy_target"].values():
        v.requires_grad_(False)
    return gen, nets


def td3_net_records(prefix, nets):
    recs = net_records(prefix, nets)
    recs += [("%s.policy_target.%s" % (prefix, k), nets["policy_target"][k].detach().clone()) for k in names()]
    return recs


def run_td3(case, seed):
    """TD3 case. Tensors: init.{policy,policy_target,q1,q2,q1_target,q2_target}.<L>.<kind>, the
    batches u{k}.b.*, and per update k = 0..3: u{k}.out.<same nets>.<L>.<kind>, u{k}.out.q_loss,
    u{k}.out.pi_loss (0 on the updates without an actor step, k = 0, 2), u{k}.dbg.target_action
    [B, A] and u{k}.dbg.target_y [B]. The target actor starts as the actor plus N(0, 0.01^2) noise
    so its Polyak step is visible; it is Polyak-averaged as a whole (the unused log-std rows too).
    The actor loss uses Q1 only, with the critics just updated in the same update."""
    gen, nets = initial_state_td3(seed)
    c, b = bounds()
    low = torch.tensor(LOW, dtype=torch.float32).to(RUN_DTYPE)
    high = torch.tensor(HIGH, dtype=torch.float32).to(RUN_DTYPE)
    recs = cfg_records() + td3_net_records("init", nets)
    opt_q = torch.optim.Adam(params(nets["q1"]) + params(nets["q2"]), lr=LR_Q, betas=BETAS, eps=ADAM_EPS)
    opt_pi = torch.optim.Adam(params(nets["policy"]), lr=LR_PI, betas=BETAS, eps=ADAM_EPS)
    batches = [make_batch_td3(gen) for _ in range(TD3_NUPD)]
    for k, bt in enumerate(batches):
        recs += batch_records("u%d.b" % k, bt)
    recs = freeze(recs)
    for k, bt in enumerate(batches):
        pol, q1, q2 = nets["policy"], nets["q1"], nets["q2"]
        # critic step (every update)
        with torch.no_grad():
            a2 = td3_target_action(nets["policy_target"], bt["next_obs"], bt["xi_next"], c, b, low, high)
            raw = det_action(nets["policy_target"], bt["next_obs"], c, b) + torch.clamp(
                TD3_NOISE * c * bt["xi_next"], -TD3_NOISE_CLIP * c, TD3_NOISE_CLIP * c)
            n_nclip = int(((TD3_NOISE * bt["xi_next"]).abs() > TD3_NOISE_CLIP).sum())
            n_lo, n_hi = int((raw < low).sum()), int((raw > high).sum())
            qt = min_q(nets["q1_target"], nets["q2_target"], bt["next_obs"], a2)
            y = bt["rew"] + GAMMA * (1 - bt["done"]) * qt
        v1 = q_value(q1, bt["obs"], bt["act"])
        v2 = q_value(q2, bt["obs"], bt["act"])
        q_loss = ((v1 - y) ** 2).mean() + ((v2 - y) ** 2).mean()
        grads = torch.autograd.grad(q_loss, params(q1) + params(q2))
        opt_q.zero_grad()
        for t, g in zip(params(q1) + params(q2), grads):
            t.grad = g
        opt_q.step()
        # delayed actor step and Polyak (updates k = 1, 3)
        actor = (k + 1) % TD3_DELAY == 0
        pi_loss = torch.zeros(1, dtype=RUN_DTYPE)
        if actor:
            loss = -q_value(q1, bt["obs"], det_action(pol, bt["obs"], c, b)).mean()
            grads = torch.autograd.grad(loss, params(pol))
            opt_pi.zero_grad()
            for t, g in zip(params(pol), grads):
                t.grad = g
            opt_pi.step()
            pi_loss = loss.detach()
            polyak(nets)
            with torch.no_grad():
                for kk in names():
                    nets["policy_target"][kk].mul_(1 - TAU).add_(TAU * pol[kk])
        recs += td3_net_records("u%d.out" % k, nets)
        recs += [("u%d.out.q_loss" % k, q_loss.detach()), ("u%d.out.pi_loss" % k, pi_loss)]
        recs += [("u%d.dbg.target_action" % k, a2), ("u%d.dbg.target_y" % k, y)]
        recs = freeze(recs)
        print("[%s] u%d q_loss %.6g pi_loss %.6g%s; target action: %d noise-clipped, %d below low, "
              "%d above high" % (case, k, q_loss.item(), pi_loss.item(), " (actor step)" if actor else "",
                                 n_nclip, n_lo, n_hi))
    return recs


def cfg_records():
    return [("cfg.dims", [OBS, ACT, HID, B, ND0]), ("cfg.low", LOW), ("cfg.high", HIGH),
            ("cfg.alpha", [ALPHA_V1]), ("cfg.target_entropy", [TARGET_ENTROPY]),
            ("cfg.lr", [LR_Q, LR_PI, LR_ALPHA])]


def all_cases(check):
    cases = {}
    cases["sac_v1"] = run_sac("sac_v1", 101, v2=False)
    cases["sac_v2"] = run_sac("sac_v2", 102, v2=True)
    allG = {}
    # the Meta-SAC variants share the seed: same initial state and inputs, different variant
    for case, variant, scale in (("meta_sac", "default", 1.0), ("meta_sac_d1", "d1", 1.0),
                                 ("meta_sac_d2", "d2", 1.0), ("meta_sac_unscaled", "unscaled", 1.0),
                                 ("meta_sac_clip", "default", 50.0)):
        cases[case], allG[case] = run_meta(case, 200, variant, scale, check)
    cases["td3"] = run_td3("td3", 300)
    return cases, allG


def compare64():
    """Rerun in float64 and print, per case, the tensors whose float32 value differs most."""
    global RUN_DTYPE
    c32, _ = all_cases(False)
    RUN_DTYPE = torch.float64
    c64, _ = all_cases(False)
    RUN_DTYPE = torch.float32
    global META_DTYPE
    META_DTYPE = torch.float32
    print("metagradient path in float32 (G autograd / closed form / finite difference):")
    all_cases(True)
    META_DTYPE = torch.float64
    for case in c32:
        rows = []
        for (n, a), (n2, b) in zip(c32[case], c64[case]):
            assert n == n2
            a = np.asarray(torch.as_tensor(a).detach(), dtype=np.float64)
            b = np.asarray(torch.as_tensor(b).detach(), dtype=np.float64)
            err = np.abs(a - b).max()
            rel = err / max(np.abs(b).max(), 1e-30)
            rows.append((rel, err, n))
        rows.sort(reverse=True)
        print("[%s] float32 vs float64, largest relative (to max|x|) differences:" % case)
        for rel, err, n in rows[:8]:
            print("   %-36s rel %.2e abs %.2e" % (n, rel, err))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--dump":
        dump(sys.argv[2])
        return
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    if len(sys.argv) == 2 and sys.argv[1] == "--compare64":
        compare64()
        return
    assert len(sys.argv) == 1, "usage: make_ref.py [--dump FILE | --compare64]"
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
    cases, allG = all_cases(True)
    assert any(not cl for _, cl in allG["meta_sac"]), "meta_sac must have an unclipped G"
    assert any(cl for _, cl in allG["meta_sac_clip"]), "meta_sac_clip must clip G"
    for case, recs in cases.items():
        path = os.path.normpath(os.path.join(outdir, "ref_%s.bin" % case))
        data = write_ref(path, recs)
        assert len(data) < 200 * 1024
        print("wrote %s (%d tensors, %d bytes, sha256 %s)"
              % (path, len(recs), len(data), hashlib.sha256(data).hexdigest()[:16]))
    for case, gs in allG.items():
        print("G %-18s %s" % (case, "  ".join("%.6g%s" % (g, "*" if cl else "") for g, cl in gs)))
    print("(* = |G| > 0.05, clipped before the Adam step on lambda)")


if __name__ == "__main__":
    main()
