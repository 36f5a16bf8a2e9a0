#!/usr/bin/python3
"""PyTorch version of the learner's updates, timed: the reference bench/bench_update.c prints
its own rates against.

    /usr/bin/python3 bench/torch_update.py OBS ACT ALGO SECONDS
    ALGO: sac_v2 | meta_sac.  Prints one line: "updates/s U sgemm_gflops G".

The same updates as learner/sac_impl.h (docs/ALGORITHM.md sections 2 and 4), batch 256, hidden
256, |D0| 256, written the way a careful PyTorch user would: twin critics as two MLPs, torch.optim
Adam for the critics and alpha, the Meta-SAC virtual RMSProp step as a differentiable function
of alpha (first order: g_q and g_ent are detached, as in the closed form), torch.optim.RMSprop
for Meta-SAC's real policy step. The thread counts come from the environment (the caller sets
torch's intra-op threads with TORCH_THREADS and OpenBLAS's with OPENBLAS_NUM_THREADS).
It also times a 256^3 matrix product in the same process, so its rate can be read against the
BLAS it runs on. Needs Debian's python3-torch (outside CI).
"""
import math
import os
import sys
import time

import torch

H, B, ND0 = 256, 256, 256
GAMMA, TAU, LR = 0.99, 0.005, 3e-4
RHO, RMS_EPS, CLIP = 0.99, 1e-12, 0.05
LOGSTD_MIN, LOGSTD_MAX = -20.0, 2.0


def mlp(i, o):
    return torch.nn.Sequential(torch.nn.Linear(i, H), torch.nn.ReLU(), torch.nn.Linear(H, H),
                               torch.nn.ReLU(), torch.nn.Linear(H, o))


def policy_params_forward(params, obs, act_dim):
    """The policy as a function of a parameter list (so phi' can be plugged in)."""
    w1, b1, w2, b2, w3, b3 = params
    h = torch.relu(torch.addmm(b1, obs, w1.t()))
    h = torch.relu(torch.addmm(b2, h, w2.t()))
    out = torch.addmm(b3, h, w3.t())
    return out[:, :act_dim], out[:, act_dim:]


def sample(params, obs, xi, act_dim):
    mu, raw = policy_params_forward(params, obs, act_dim)
    logstd = torch.clamp(raw, LOGSTD_MIN, LOGSTD_MAX)
    y = torch.tanh(mu + torch.exp(logstd) * xi)
    logp = (-0.5 * xi * xi - logstd - 0.5 * math.log(2 * math.pi)
            - torch.log(1 - y * y + 1e-6)).sum(1)
    return y, logp


class Learner:
    def __init__(self, obs_dim, act_dim, algo):
        self.A, self.algo = act_dim, algo
        self.pi = mlp(obs_dim, 2 * act_dim)
        self.q1, self.q2 = mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)
        self.q1t, self.q2t = mlp(obs_dim + act_dim, 1), mlp(obs_dim + act_dim, 1)
        self.q1t.load_state_dict(self.q1.state_dict())
        self.q2t.load_state_dict(self.q2.state_dict())
        self.qparams = list(self.q1.parameters()) + list(self.q2.parameters())
        self.piparams = list(self.pi.parameters())
        self.log_alpha = torch.zeros(1, requires_grad=True)
        self.opt_q = torch.optim.Adam(self.qparams, lr=LR)
        self.opt_a = torch.optim.Adam([self.log_alpha], lr=LR)
        if algo == "meta_sac":
            self.opt_pi = torch.optim.RMSprop(self.piparams, lr=LR, alpha=RHO, eps=1e-8)
        else:
            self.opt_pi = torch.optim.Adam(self.piparams, lr=LR)
        self.target_entropy = -float(act_dim)

    def q(self, obs, act, target=False):
        x = torch.cat([obs, act], 1)
        a, b = (self.q1t, self.q2t) if target else (self.q1, self.q2)
        return a(x).squeeze(1), b(x).squeeze(1)

    def meta_step(self, b1, d0):
        obs, xi = b1[0], b1[5]
        y, logp = sample(self.piparams, obs, xi, self.A)
        q1, q2 = self.q(obs, y)
        gq = torch.autograd.grad(-torch.min(q1, q2).mean(), self.piparams, retain_graph=True)
        ge = torch.autograd.grad(logp.mean(), self.piparams)
        alpha = self.log_alpha.exp()
        state = self.opt_pi.state
        new = []
        for p, a, b in zip(self.piparams, gq, ge):
            v = state[p]["square_avg"] if p in state else torch.zeros_like(p)
            g = alpha * b + a
            new.append(p.detach() - LR * g / torch.sqrt(RHO * v + (1 - RHO) * g * g + RMS_EPS))
        mu, _ = policy_params_forward(new, d0, self.A)
        m1, m2 = self.q(d0, torch.tanh(mu))
        meta = -torch.min(m1, m2).mean()
        (G,) = torch.autograd.grad(meta, self.log_alpha)
        G = G.clamp(-CLIP, CLIP)
        self.opt_a.zero_grad()
        self.log_alpha.grad = G
        self.opt_a.step()
        with torch.no_grad():
            self.log_alpha.clamp_(max=0.0)

    def update(self, b1, b2, d0):
        if self.algo == "meta_sac":
            self.meta_step(b1, d0)
            b = b2
        else:
            b = b1
        obs, act, rew, nobs, done, xi, xin = b
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            ny, nlogp = sample(self.piparams, nobs, xin, self.A)
            t1, t2 = self.q(nobs, ny, target=True)
            y = rew + GAMMA * (1 - done) * (torch.min(t1, t2) - alpha * nlogp)
        q1, q2 = self.q(obs, act)
        lq = ((q1 - y) ** 2).mean() + ((q2 - y) ** 2).mean()
        self.opt_q.zero_grad()
        lq.backward()
        self.opt_q.step()
        pa, logp = sample(self.piparams, obs, xi, self.A)
        p1, p2 = self.q(obs, pa)
        lpi = (alpha * logp - torch.min(p1, p2)).mean()
        self.opt_pi.zero_grad()
        lpi.backward()
        self.opt_pi.step()
        if self.algo == "sac_v2":
            la = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.opt_a.zero_grad()
            la.backward()
            self.opt_a.step()
        with torch.no_grad():
            for net, tgt in ((self.q1, self.q1t), (self.q2, self.q2t)):
                for p, pt in zip(net.parameters(), tgt.parameters()):
                    pt.mul_(1 - TAU).add_(p, alpha=TAU)


def batch(obs_dim, act_dim):
    return (torch.randn(B, obs_dim), torch.rand(B, act_dim) * 2 - 1, torch.randn(B),
            torch.randn(B, obs_dim), (torch.arange(B) % 50 == 0).float(),
            torch.randn(B, act_dim), torch.randn(B, act_dim))


def main():
    obs_dim, act_dim, algo, seconds = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(1)
    learner = Learner(obs_dim, act_dim, algo)
    b1, b2, d0 = batch(obs_dim, act_dim), batch(obs_dim, act_dim), torch.randn(ND0, obs_dim)
    x, w = torch.randn(256, 256), torch.randn(256, 256)
    for _ in range(3):
        learner.update(b1, b2, d0)
    best_u = best_g = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:  # rounds: a matrix-product burst, then an update burst
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.1:
            torch.mm(x, w)
            n += 1
        best_g = max(best_g, 2 * 256 ** 3 * n / (time.perf_counter() - t0) / 1e9)
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.3:
            learner.update(b1, b2, d0)
            n += 1
        best_u = max(best_u, n / (time.perf_counter() - t0))
    print("updates/s %.2f sgemm_gflops %.2f" % (best_u, best_g))


if __name__ == "__main__":
    main()
