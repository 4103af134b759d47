#!/usr/bin/env python3
"""DeCLIP's loss, transcribed from the official code, on random features; writes a fixture.

A reference computed OUTSIDE this project's TypeScript: each function below restates one piece
of the official implementation (Sense-GVT/DeCLIP, commit 5d99a85) in plain PyTorch, with the
file and lines it follows. test/trainer/official-reference.test.ts feeds the same inputs to
the toolkit's loss code and compares every term and every gradient with respect to the
features (|a - b| <= 1e-5 * max(1, |b|) per element).

    /usr/bin/python3 test/reference/official_losses.py > test/reference/official-losses.json

(Debian: apt-get install python3-torch.) Deterministic: fixed seeds, float64 inputs rounded to
float32 values (the toolkit computes in float32; the reference in float64 on the same values).
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def clip_info_ce(logits_per_image, logits_per_text):
    """prototype/loss_functions/loss.py ~37-47, ClipInfoCELoss.forward (one process):
    labels = arange(B); (CE(logits_per_image) + CE(logits_per_text)) / 2."""
    labels = torch.arange(logits_per_image.shape[0])
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2


def simsiam_d(p, z):
    """loss.py ~49-55, D: z detached (stop-gradient), both normalised, mean of row dot products."""
    z = z.detach()
    p = p / p.norm(dim=-1, keepdim=True)
    z = z / z.norm(dim=-1, keepdim=True)
    return (p * z).sum(dim=1).mean()


def simsiam_loss(p1, z1, p2, z2):
    """loss.py SimsiamLoss.forward (symmetry=True): -0.5 * (D(p1, z2) + D(p2, z1))."""
    return -0.5 * (simsiam_d(p1, z2) + simsiam_d(p2, z1))


def nearest(query, bank):
    """prototype/model/utils/nnclr_modules/nn_memory_bank.py forward, topk=1: cosine argmax
    over the bank as it was BEFORE this batch's update (the bank is cloned before enqueueing)."""
    sim = F.normalize(query, dim=1) @ F.normalize(bank, dim=1).t()
    return bank[sim.argmax(dim=1)]


def declip_terms(f1, f2, t, ta, logit_scale_param, bank, p1, p2, z1, z2, mlm_logits, mlm_targets):
    """prototype/model/declip.py ~255-300 (features, logits) and
    prototype/solver/declip_solver.py ~440-520 (terms, weights) for one process."""
    # declip.py ~255-258: image features normalised without eps, text with +1e-10.
    i1 = f1 / f1.norm(dim=-1, keepdim=True)
    i2 = f2 / f2.norm(dim=-1, keepdim=True)
    tn = t / (t.norm(dim=-1, keepdim=True) + 1e-10)
    tan = ta / (ta.norm(dim=-1, keepdim=True) + 1e-10)
    # declip.py ~260-261, as written there: the cap goes through .data, so autograd never sees
    # it: above the cap the forward uses 100 while the parameter's gradient is still
    # dL/dscale * exp(param) (exp's backward keeps its own, uncapped result), not 0.
    scale = logit_scale_param.exp()
    scale.data = torch.clamp(scale.data, max=100)
    # MVS: four ClipInfoCELoss terms, per_image = scale I T^T, per_text = scale T I^T (~270-280).
    clip = (
        clip_info_ce(scale * i1 @ tn.t(), scale * tn @ i1.t())
        + clip_info_ce(scale * i2 @ tn.t(), scale * tn @ i2.t())
        + clip_info_ce(scale * i1 @ tan.t(), scale * tan @ i1.t())
        + clip_info_ce(scale * i2 @ tan.t(), scale * tan @ i2.t())
    ) / 4
    # NNS (~282-300 and solver ~474-479): neighbours of the detached text features,
    # renormalised with +1e-10; ClipInfoCELoss(image k vs NN(caption), image k vs NN(EDA)).
    nn_t = nearest(tn.detach(), bank)
    nn_t = nn_t / (nn_t.norm(dim=-1, keepdim=True) + 1e-10)
    nn_ta = nearest(tan.detach(), bank)
    nn_ta = nn_ta / (nn_ta.norm(dim=-1, keepdim=True) + 1e-10)
    nns = (
        clip_info_ce(scale * i1 @ nn_t.t(), scale * i1 @ nn_ta.t())
        + clip_info_ce(scale * i2 @ nn_t.t(), scale * i2 @ nn_ta.t())
    ) / 2
    simsiam = simsiam_loss(p1, z1, p2, z2)
    # declip.py ~332-334: CE over the positions whose label is not -100.
    mlm = F.cross_entropy(mlm_logits, mlm_targets)
    # solver ~508-518 with yfcc15m_r50_declip's clip_simsiam_loss_weight.
    total = 0.4 * clip + 0.2 * nns + 0.2 * simsiam + 0.2 * mlm
    return {"clip": clip, "nns": nns, "simsiam": simsiam, "mlm": mlm, "total": total}


def f32(x):
    return torch.tensor(torch.as_tensor(x).float().tolist(), dtype=torch.float64)


def case(seed, logit_scale):
    g = torch.Generator().manual_seed(seed)
    b, d, q, p, m, v = 6, 16, 24, 12, 9, 20
    bank = F.normalize(torch.randn(q, d, generator=g), dim=1)
    leaves = {
        "f1": torch.randn(b, d, generator=g),
        "f2": torch.randn(b, d, generator=g),
        "t": torch.randn(b, d, generator=g),
        "ta": torch.randn(b, d, generator=g),
        "p1": torch.randn(b, p, generator=g),
        "p2": torch.randn(b, p, generator=g),
        "z1": torch.randn(b, p, generator=g),
        "z2": torch.randn(b, p, generator=g),
        "mlmLogits": 2 * torch.randn(m, v, generator=g),
        "logitScale": torch.tensor(logit_scale),
    }
    leaves = {k: f32(x).requires_grad_(True) for k, x in leaves.items()}
    bank = f32(bank)
    targets = torch.randint(0, v, (m,), generator=g)
    terms = declip_terms(
        leaves["f1"], leaves["f2"], leaves["t"], leaves["ta"], leaves["logitScale"], bank,
        leaves["p1"], leaves["p2"], leaves["z1"], leaves["z2"], leaves["mlmLogits"], targets,
    )
    out = {
        "seed": seed,
        "inputs": {k: x.detach().tolist() for k, x in leaves.items()},
        "queue": bank.tolist(),
        "mlmTargets": targets.tolist(),
        "terms": {},
    }
    for name, value in terms.items():
        grads = torch.autograd.grad(value, list(leaves.values()), retain_graph=True, allow_unused=True)
        out["terms"][name] = {
            "value": value.item(),
            "grads": {
                k: (torch.zeros_like(x) if gr is None else gr).tolist() for (k, x), gr in zip(leaves.items(), grads)
            },
        }
    return out


def main():
    # One case below the cap (exp(2.9) = 18.2), one above it (exp(5) = 148 -> 100), as the
    # official [3, 6] parameter range allows.
    cases = [case(7, 2.9), case(11, 5.0)]
    json.dump({"source": "Sense-GVT/DeCLIP@5d99a85, transcribed in test/reference/official_losses.py", "cases": cases}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
