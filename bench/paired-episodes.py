"""Paired comparison of two `protolens bench episodes --out` runs made on the same episodes
(same features' labels, same --ways/--shots/--episodes/--seed): for every setting and classifier,
each run's accuracy with its 95 % interval, and B − A in points ± standard error over the
episodes, with the number of episodes where B is better / worse.

    python3 bench/paired-episodes.py A/episodes.json B/episodes.json
"""
import json
import math
import sys


def mean_ci(v):
    n = len(v)
    m = sum(v) / n
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
    return 100 * m, 196 * sd / math.sqrt(n)


def main(a_path, b_path):
    a_run, b_run = json.load(open(a_path)), json.load(open(b_path))
    for sa, sb in zip(a_run['settings'], b_run['settings']):
        if sa['setting'] != sb['setting'] or sa['seed'] != sb['seed']:
            sys.exit(f'{b_path}: setting {sb["setting"]} (seed {sb["seed"]}) is not {a_path}\'s {sa["setting"]} (seed {sa["seed"]}); pair runs of the same episodes')
        for c in sa['scores']:
            if c not in sb['scores']:
                continue
            a, b = sa['scores'][c]['perEpisode'], sb['scores'][c]['perEpisode']
            if len(a) != len(b):
                sys.exit(f'{c}: {len(a)} against {len(b)} episodes')
            d = [y - x for x, y in zip(a, b)]
            n = len(d)
            m = sum(d) / n
            se = math.sqrt(sum((v - m) ** 2 for v in d) / (n - 1) / n)
            print(sa['setting'], c, 'A %.2f ± %.2f' % mean_ci(a), 'B %.2f ± %.2f' % mean_ci(b),
                  'B-A %+.2f ± %.2f (s.e.)' % (100 * m, 100 * se),
                  'for', sum(1 for v in d if v > 0), 'against', sum(1 for v in d if v < 0))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
