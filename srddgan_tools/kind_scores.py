"""Scores by kind of photograph for the perception-distortion study: the images of a split grouped by kind
(``photo_kinds.kind_of``), the split's means recombined from the kinds', the perceptual rule and its targets per kind.
"""
from srddgan_tools.photo_kinds import kind_of

MIN_GAIN_OVER_BICUBIC = 0.2  # dB: the perceptual model must stay this far above bicubic (issue 19's bar)
NIQE_BELOW_IBP = 1.0  # the perceptual model's NIQE target: this far under IBP's (issue 37)
KIND_COLUMNS = (('psnr', 'PSNR', 2), ('niqe', 'NIQE', 2), ('swd', 'SWD', 3))


def group_by_kind(pairs):
    """(name, gt, lq) triples -> {kind: triples}, kinds in sorted order."""
    groups = {}
    for pair in pairs:
        groups.setdefault(kind_of(pair[0]), []).append(pair)
    return dict(sorted(groups.items()))


def combine(per_kind, counts):
    """The split's mean metrics from the kinds' means (``per_kind``: kind -> metric -> mean; ``counts``: kind ->
    images), each metric over the kinds that have it: the mean over all the split's images."""
    total = {}
    for kind, values in per_kind.items():
        for key, value in values.items():
            weighted, count = total.get(key, (0.0, 0))
            total[key] = (weighted + value * counts[kind], count + counts[kind])
    return {key: weighted / count for key, (weighted, count) in total.items()}


def choose_by_rule(results, names):
    """The name (of ``names``, rows of ``results``) with the lowest SWD among those at least MIN_GAIN_OVER_BICUBIC
    above bicubic's PSNR; none there: the lowest SWD of all."""
    floor = results['bicubic']['psnr'] + MIN_GAIN_OVER_BICUBIC
    eligible = [name for name in names if results[name]['psnr'] >= floor] or list(names)
    return min(eligible, key=lambda name: results[name]['swd'])


def standing(results, chosen):
    """The chosen model against the targets on one kind: (PSNR gain over bicubic, NIQE under IBP's (None without
    NIQE), whether both targets are met)."""
    gain = results[chosen]['psnr'] - results['bicubic']['psnr']
    if 'niqe' not in results[chosen] or 'niqe' not in results['ibp']:
        return gain, None, False
    under = results['ibp']['niqe'] - results[chosen]['niqe']
    return gain, under, gain >= MIN_GAIN_OVER_BICUBIC and under >= NIQE_BELOW_IBP


def _cell(values, key, digits):
    return f'{values[key]:.{digits}f}' if key in values else 'n/a'


def kind_table(per_kind, counts, methods, chosen):
    """Markdown: PSNR / NIQE / SWD of each method on each kind, then the chosen model's standing on each kind."""
    lines = ['| Kind (images) | Method | ' + ' | '.join(title for _, title, _ in KIND_COLUMNS) + ' |',
             '|---|---|' + '---:|' * len(KIND_COLUMNS)]
    for kind, results in per_kind.items():
        for method in methods:
            cells = ' | '.join(_cell(results[method], key, digits) for key, _, digits in KIND_COLUMNS)
            lines.append(f'| {kind} ({counts[kind]}) | {method} | {cells} |')
    lines += ['', f'Targets of {chosen}: PSNR at least {MIN_GAIN_OVER_BICUBIC:g} dB above bicubic, NIQE at least '
              f'{NIQE_BELOW_IBP:g} under IBP\'s.', '',
              '| Kind | PSNR gain over bicubic | NIQE under IBP | Meets both |', '|---|---:|---:|---|']
    for kind, results in per_kind.items():
        gain, under, met = standing(results, chosen)
        lines.append(f'| {kind} | {gain:+.2f} | {"n/a" if under is None else f"{under:+.2f}"} | '
                     f'{"yes" if met else "no"} |')
    return '\n'.join(lines) + '\n'
