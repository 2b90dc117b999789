import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { SlipwayError } from '../../errors/index.js';

/** What Slipway keeps in its data folder for itself: the registry database and the artifacts. */
const OWN_ENTRIES = ['registry.db', 'registry.db-wal', 'registry.db-shm', 'registry.db-journal', 'artifacts'];

/** The folder of the data folder whose files the default warehouse's queries may read. */
export const DEFAULT_FILES_FOLDER = 'files';

/** A path with symbolic links resolved as far as it exists, so a link cannot stand in for the real place. */
function canonical(path: string): string {
  const absolute = resolve(path);
  if (existsSync(absolute)) return realpathSync.native(absolute);
  const parent = dirname(absolute);
  return parent === absolute ? absolute : join(canonical(parent), absolute.slice(parent.length + 1));
}

/** Whether `path` is `folder` or inside it. */
export function isWithin(path: string, folder: string): boolean {
  const rest = relative(folder, path);
  return rest === '' || (!rest.startsWith('..') && !isAbsolute(rest));
}

/**
 * Refuses a path a warehouse would read or write that overlaps Slipway's own data: the data folder
 * itself or any folder holding it, and the registry database or artifacts folder (or anything inside
 * them). Folders inside the data folder that are not Slipway's own (`files:exports`) are allowed.
 * Every warehouse path passes here when a job is saved and again when a run opens its warehouses.
 */
export function assertNotSlipwayData(path: string, dataDir: string, reference: string, role: string): void {
  const target = canonical(path);
  const data = canonical(dataDir);
  const own = isWithin(data, target) || OWN_ENTRIES.some((entry) => isWithin(target, join(data, entry)));
  if (own) {
    throw new SlipwayError(
      'INVALID_ARGUMENT',
      `Warehouse "${reference}" ${role} ${target}, which ${isWithin(data, target) ? 'is or holds' : 'is inside'} Slipway's own data (the data folder, its registry and artifacts); choose a folder of its own, outside them.`,
      { warehouse: reference, path: target },
    );
  }
}

/**
 * The folder whose files a DuckDB warehouse's queries may read: the folder holding its database
 * file, or, for a file directly in the data folder (the default warehouse), the data folder's
 * `files/` folder, so that the registry and artifacts stay out of reach.
 */
export function readableFolder(databaseFile: string, dataDir: string, reference: string): string {
  const folder = dirname(resolve(databaseFile));
  const readable = canonical(folder) === canonical(dataDir) ? join(folder, DEFAULT_FILES_FOLDER) : folder;
  assertNotSlipwayData(readable, dataDir, reference, 'would read files in');
  return readable;
}
