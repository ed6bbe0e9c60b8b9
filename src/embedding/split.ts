/**
 * Splitting a labelled image set into training, validation and test classes by *group*: the
 * first part of a label ("Greek" in "Greek/character03"), i.e. whole Omniglot alphabets.
 * Browser-safe. The default split of Omniglot's background set is documented in
 * docs/embedding.md; it is fixed by name, so it does not depend on listing order.
 */
import type { ClassIndex } from '../data/episodes.ts';

/**
 * The test alphabets: the eight of `images_background_small`, whose MobileNetV2/InceptionV3
 * features are extracted elsewhere in protolens, so the comparison uses the same images.
 * Never used in training or validation.
 */
export const DEFAULT_TEST_GROUPS: readonly string[] = [
  'Balinese', 'Early_Aramaic', 'Greek', 'Japanese_(katakana)', 'Korean', 'Latin', 'Sanskrit', 'Tagalog',
];

/** The validation alphabets (early stopping): five of the remaining 22, 132 characters. */
export const DEFAULT_VAL_GROUPS: readonly string[] = [
  'Alphabet_of_the_Magi', 'Futurama', 'Hebrew', 'Mkhedruli_(Georgian)', 'Syriac_(Estrangelo)',
];

/** Group of a label: its part before the first "/". */
export function groupOf(label: string): string {
  const k = label.indexOf('/');
  return k < 0 ? label : label.slice(0, k);
}

/** A three-way split of the classes of a labelled image set. */
export interface GroupSplit {
  train: ClassIndex;
  val: ClassIndex;
  test: ClassIndex;
  /** Group names of each part, sorted. */
  groups: { train: string[]; val: string[]; test: string[] };
}

function indexOf(labels: readonly string[], keep: (group: string) => boolean): ClassIndex {
  const at = new Map<string, number>();
  const names: string[] = [];
  const members: number[][] = [];
  labels.forEach((l, i) => {
    if (!keep(groupOf(l))) return;
    let c = at.get(l);
    if (c === undefined) { c = names.length; at.set(l, c); names.push(l); members.push([]); }
    members[c].push(i);
  });
  return { names, members };
}

/**
 * Splits by group: validation and test groups as named, training = every other group.
 * @throws RangeError when a named group is absent from the labels (listing those present), when
 *   a group is named both for validation and test, or when no training group is left.
 */
export function splitByGroup(labels: readonly string[], valGroups: readonly string[], testGroups: readonly string[]): GroupSplit {
  const present = [...new Set(labels.map(groupOf))].sort();
  for (const [what, gs] of [['validation', valGroups], ['test', testGroups]] as const) {
    const missing = gs.filter((g) => !present.includes(g));
    if (missing.length) throw new RangeError(`${what} alphabet${missing.length > 1 ? 's' : ''} not in the data: ${missing.join(', ')}. Present: ${present.join(', ')}`);
  }
  const both = valGroups.filter((g) => testGroups.includes(g));
  if (both.length) throw new RangeError(`alphabets named for both validation and test: ${both.join(', ')}`);
  const trainGroups = present.filter((g) => !valGroups.includes(g) && !testGroups.includes(g));
  if (trainGroups.length === 0) throw new RangeError('no alphabet is left for training once the validation and test alphabets are held out');
  return {
    train: indexOf(labels, (g) => trainGroups.includes(g)),
    val: indexOf(labels, (g) => valGroups.includes(g)),
    test: indexOf(labels, (g) => testGroups.includes(g)),
    groups: { train: trainGroups, val: [...valGroups].sort(), test: [...testGroups].sort() },
  };
}
