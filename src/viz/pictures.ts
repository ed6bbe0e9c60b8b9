/**
 * Which picture stands for a prototype where it is drawn small (Figure 1 of the report, the
 * explorer's map, beside a finding): its nearest training image or its reconstruction (the input
 * x* whose feature lands on it, src/interpret/reconstruct.ts). Shared by the report (src/viz/report.ts)
 * and the explorer's page (web/src), so that both choose the same way. Pure and browser-safe.
 *
 * By default the nearest training image wins: it is what a reader recognises at 30 pixels, while
 * reconstructions through a large network are textures that only the network recognises
 * (docs/interpretation.md, "Reconstructions"); `prefer: 'reconstruction'` turns the order round.
 */

/** Side of a prototype's picture on a map (Figure 1, the explorer), in pixels. */
export const PICTURE_SIDE = 30;

/** What a prototype's picture is. */
export type PictureKind = 'nearest' | 'reconstruction';

/** Where the pictures come from. */
export interface PictureSources {
  /** The picture (URL or data URI) of sample i, or undefined when there is none. */
  sample: (i: number) => string | undefined;
  /** The reconstruction of prototype j, or undefined when there is none. */
  reconstruction?: (j: number) => string | undefined;
  /** Which to take when both exist. Default 'nearest'. */
  prefer?: PictureKind;
}

/** The chosen pictures, by prototype index, what each is, and what they are in words (for a caption). */
export interface PrototypePictures {
  pictures: Record<number, string>;
  kinds: Record<number, PictureKind>;
  are: string;
}

const WORDS: Record<PictureKind, string> = { nearest: 'its nearest training image', reconstruction: 'its reconstruction' };

/**
 * A picture per prototype: its nearest training image or its reconstruction, in the order
 * `prefer` says; prototypes with neither get none (they are drawn as diamonds).
 * @param prototypes - each prototype's index and the index of its nearest training sample (if any).
 * @example
 * choosePictures([{ index: 0, nearest: 4 }, { index: 1 }], { sample: (i) => `img/${i}.png`, reconstruction: (j) => j === 1 ? 'rec1.png' : undefined })
 * // { pictures: { 0: 'img/4.png', 1: 'rec1.png' }, kinds: { 0: 'nearest', 1: 'reconstruction' },
 * //   are: 'its nearest training image, else its reconstruction' }
 */
export function choosePictures(prototypes: ReadonlyArray<{ index: number; nearest?: number }>, s: PictureSources): PrototypePictures {
  const order: PictureKind[] = s.prefer === 'reconstruction' ? ['reconstruction', 'nearest'] : ['nearest', 'reconstruction'];
  const pictures: Record<number, string> = {};
  const kinds: Record<number, PictureKind> = {};
  const used = new Set<PictureKind>();
  for (const p of prototypes) {
    for (const kind of order) {
      const url = kind === 'nearest' ? (p.nearest === undefined ? undefined : s.sample(p.nearest)) : s.reconstruction?.(p.index);
      if (url) { pictures[p.index] = url; kinds[p.index] = kind; used.add(kind); break; }
    }
  }
  const [first, second] = order.filter((k) => used.has(k));
  const are = second ? `${WORDS[first]}, else ${WORDS[second]}` : first ? WORDS[first] : 'its picture';
  return { pictures, kinds, are };
}

/**
 * The prototypes a finding is about, to show as pictures beside its sentence: the finding's own
 * (an ambiguous, dead or single-sample prototype; a scattered class's serving prototypes), else,
 * for a finding about a class (singleton, unbalanced), the prototypes of that class.
 * @param classPrototypes - the prototypes whose winning class is `label`.
 * @example
 * findingPrototypes({ kind: 'singleton-class', label: 'b' }, (l) => (l === 'b' ? [4] : [])) // [4]
 */
export function findingPrototypes(f: { prototypes?: readonly number[]; label?: unknown }, classPrototypes: (label: unknown) => readonly number[], max = 12): number[] {
  const js = f.prototypes?.length ? f.prototypes : f.label !== undefined ? classPrototypes(f.label) : [];
  return js.slice(0, max);
}
