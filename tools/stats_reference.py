#!/usr/bin/env python3
"""Independent reference numbers for tests/test_stats.c (study/stats.h).

Plain Python 3, no libraries: Student's t quantiles by bisection on the CDF,
the CDF from the regularized incomplete beta function (its continued
fraction, evaluated by the modified Lentz method), the normal quantile by
bisection on math.erf, and the paired bootstrap's exact distribution by
enumerating every resample of a 2-seed x 2-item table. Prints the numbers
the test asserts; rerun after changing a test case and paste them in.

    python3 tools/stats_reference.py
"""
import itertools
import math


def betacf(a, b, x):
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return h


def betainc(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1 - x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(lbt) * betacf(a, b, x) / a
    return 1 - math.exp(lbt) * betacf(b, a, 1 - x) / b


def t_cdf(t, df):
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def bisect(f, p, lo, hi):
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def t_q(p, df):
    return bisect(lambda t: t_cdf(t, df), p, -1e3, 1e3)


def z_q(p):
    return bisect(lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2))), p, -40, 40)


def mean(x):
    return sum(x) / len(x)


def sd(x):
    m = mean(x)
    return math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1))


def paired_t(a, b):
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    se = sd(d) / math.sqrt(n)
    h = t_q(0.975, n - 1) * se
    return mean(d), mean(d) - h, mean(d) + h, se


def blocked_t(y, a, b):
    """Arm a - arm b of the arms x seeds table y (lists of equal length), the
    error pooled from the two-way residual of every arm."""
    k, n = len(y), len(y[0])
    am = [mean(r) for r in y]
    sm = [mean([y[i][j] for i in range(k)]) for j in range(n)]
    g = mean(am)
    df = (k - 1) * (n - 1)
    mse = sum((y[i][j] - am[i] - sm[j] + g) ** 2 for i in range(k) for j in range(n)) / df
    se = math.sqrt(2 * mse / n)
    h = t_q(0.975, df) * se
    est = am[a] - am[b]
    return est, est - h, est + h, se


def seeds_to_resolve(delta, sigma, arms=2):
    for n in range(2, 1001):
        df = (arms - 1) * (n - 1)
        if (t_q(0.975, df) + t_q(0.8, df)) * sigma / math.sqrt(n) <= abs(delta):
            return n
    return 1001


def pearson(x, y):
    mx, my = mean(x), mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def fisher(r, se):
    z, h = math.atanh(r), z_q(0.975) * se
    return math.tanh(z - h), math.tanh(z + h)


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def main():
    print("t(0.975, 1..3) =", [t_q(0.975, df) for df in (1, 2, 3)])
    print("t(0.80, 1..3)  =", [t_q(0.8, df) for df in (1, 2, 3)])
    print("z(0.975) =", z_q(0.975), " z(0.80) =", z_q(0.8))

    print("\nagrees: paired t, a = 10, 12, 11; b = 9, 10.5, 10")
    print("  estimate, lo, hi, se =", paired_t([10, 12, 11], [9, 10.5, 10]))

    print("\nunresolved: paired t, a = 5, 6; b = 7, 8.5")
    est, lo, hi, se = paired_t([5, 6], [7, 8.5])
    print("  estimate, lo, hi, se =", (est, lo, hi, se))
    print("  seeds to resolve |delta| = 1 at sigma = se*sqrt(2):", seeds_to_resolve(1.0, se * math.sqrt(2)))
    print("  seeds to resolve |delta| = 0.3:", seeds_to_resolve(0.3, se * math.sqrt(2)))

    print("\ncontradicts: bootstrap, d = a - b = [[-1, -2], [-3, -4]]")
    d = [[-1, -2], [-3, -4]]
    means = []
    for s in itertools.product(range(2), repeat=2):
        for i in itertools.product(range(2), repeat=2):
            means.append(sum(d[a][b] for a in s for b in i) / 4)
    m = mean(means)
    print("  exact bootstrap atoms:", sorted(means))
    print("  min, max =", min(means), max(means), " sd (population) =",
          math.sqrt(sum((v - m) ** 2 for v in means) / len(means)))

    print("\nratio, two seeds: num = 20, 30; den = 10, 10")
    l = [math.log(2), math.log(3)]
    se = sd(l) / math.sqrt(2)
    h = t_q(0.975, 1) * se
    print("  estimate, lo, hi =", math.exp(mean(l)), math.exp(mean(l) - h), math.exp(mean(l) + h))
    print("  seeds to resolve a ratio of 2:", seeds_to_resolve(math.log(2), se * math.sqrt(2)))
    print("ratio, one seed: num = 30 +- 3, den = 10 +- 1")
    se1 = math.sqrt(0.1 ** 2 + 0.1 ** 2)
    h = z_q(0.975) * se1
    print("  estimate, lo, hi =", 3.0, math.exp(math.log(3) - h), math.exp(math.log(3) + h))

    x, y = [1, 2, 3, 4, 5], [2, 4, 5, 4, 5]
    rs = pearson(ranks(x), ranks(y))
    print("\nspearman x = 1..5, y = 2,4,5,4,5: ranks y =", ranks(y), " rho =", rs,
          " interval =", fisher(rs, math.sqrt(1.06 / 2)))
    x = [1, 2, 3, 10, 11, 12]
    y = [10, 12, 11, 1, 3, 2]
    g = [0, 0, 0, 1, 1, 1]
    print("two clusters: pearson r =", pearson(x, y), " interval =", fisher(pearson(x, y), 1 / math.sqrt(3)))
    print("  spearman rho =", pearson(ranks(x), ranks(y)))
    cx = [x[i] - mean([x[j] for j in range(6) if g[j] == g[i]]) for i in range(6)]
    cy = [y[i] - mean([y[j] for j in range(6) if g[j] == g[i]]) for i in range(6)]
    rw = pearson(cx, cy)
    print("  within-group r =", rw, " interval =", fisher(rw, 1 / math.sqrt(6 - 2 - 2)))
    y = [[10, 12, 11], [9, 10.5, 10], [5, 8, 6]]
    print("\nblocked t, arms x seeds =", y)
    est, lo, hi, se = blocked_t(y, 0, 1)
    print("  arm 0 - arm 1: estimate, lo, hi, se =", (est, lo, hi, se), " t(0.975, 4) =", t_q(0.975, 4))
    print("  seeds to resolve |delta| = 0.5 at sigma = se*sqrt(3), 3 arms:", seeds_to_resolve(0.5, se * math.sqrt(3), 3))
    ly = [[math.log(v) for v in r] for r in y]
    est, lo, hi, se = blocked_t(ly, 2, 0)
    print("  arm 2 / arm 0 on the log scale: estimate, lo, hi =", math.exp(est), math.exp(lo), math.exp(hi))
    print("points to resolve r = -0.709:", 3 + math.ceil(((z_q(0.975) + z_q(0.8)) / math.atanh(0.709)) ** 2))


if __name__ == "__main__":
    main()
