/**
 * Option checking shared by every classifier, in the scikit-learn manner: allowed values are
 * declared up front, unknown names are refused (TypeError, with the valid names), values out of
 * their domain are refused (RangeError, naming the option, the domain and the value).
 *
 * Browser-safe.
 */

/** The domain of one option. */
export type OptionRule =
  | 'positive' | 'non-negative' | 'positive integer' | 'non-negative integer' | 'integer' | 'boolean'
  | { oneOf: readonly (string | number)[] }
  | { positiveOr: string }
  | { nullOr: OptionRule };

function describe(rule: OptionRule): string {
  if (typeof rule === 'string') {
    if (rule === 'boolean') return 'true or false';
    return rule.endsWith('integer') ? `a ${rule}` : `a ${rule} finite number`;
  }
  if ('oneOf' in rule) return `one of: ${rule.oneOf.join(', ')}`;
  if ('positiveOr' in rule) return `a positive finite number or '${rule.positiveOr}'`;
  return `${describe(rule.nullOr)} (or null)`;
}

function fits(rule: OptionRule, v: unknown): boolean {
  if (typeof rule === 'object') {
    if ('oneOf' in rule) return rule.oneOf.includes(v as string);
    if ('positiveOr' in rule) return v === rule.positiveOr || fits('positive', v);
    return v === null || fits(rule.nullOr, v);
  }
  if (rule === 'boolean') return typeof v === 'boolean';
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  switch (rule) {
    case 'positive': return v > 0;
    case 'non-negative': return v >= 0;
    case 'positive integer': return Number.isInteger(v) && v > 0;
    case 'non-negative integer': return Number.isInteger(v) && v >= 0;
    case 'integer': return Number.isInteger(v);
  }
}

/**
 * Merges `options` over `defaults` after checking every name and value against `rules`.
 * @throws TypeError for an unknown option; RangeError (TypeError for a wrong boolean) for a value out of its domain.
 * @example
 * checkOptions('KNearestNeighbors', { k: 0 }, { k: 1 }, { k: 'positive integer' })
 * // throws RangeError: KNearestNeighbors: k must be a positive integer, got 0
 */
export function checkOptions<T extends object>(kind: string, options: Partial<T>, defaults: T, rules: { [K in keyof T]: OptionRule }): T {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${kind}: options must be an object`);
  const known = Object.keys(defaults);
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new TypeError(`${kind}: unknown option "${k}". Valid options: ${known.join(', ')}`);
  }
  const merged = { ...defaults } as T;
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  for (const k of known as Array<keyof T & string>) {
    const rule = rules[k], v = merged[k];
    if (!fits(rule, v)) {
      const Err = rule === 'boolean' ? TypeError : RangeError;
      throw new Err(`${kind}: ${k} must be ${describe(rule)}, got ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    }
  }
  return merged;
}
