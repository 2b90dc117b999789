import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'amber',
  'bold',
  'brave',
  'calm',
  'clever',
  'crisp',
  'eager',
  'fair',
  'gentle',
  'glad',
  'keen',
  'lively',
  'lucid',
  'merry',
  'nimble',
  'quiet',
  'rapid',
  'sharp',
  'steady',
  'sunny',
  'swift',
  'tidy',
  'vivid',
  'wise',
];
const NOUNS = [
  'auk',
  'bass',
  'crane',
  'dove',
  'eel',
  'finch',
  'gull',
  'hare',
  'ibis',
  'jay',
  'kite',
  'lark',
  'mole',
  'newt',
  'owl',
  'puffin',
  'quail',
  'ray',
  'seal',
  'tern',
  'vole',
  'wren',
  'yak',
  'zebra',
];

/** A readable name such as `swift-puffin-417`, for runs and logged models created without one. */
export function randomRunName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}-${NOUNS[randomInt(NOUNS.length)]}-${randomInt(1000)}`;
}
