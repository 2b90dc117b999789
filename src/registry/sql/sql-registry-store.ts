import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { Model, ModelVersion, VersionStatus } from '../../domain/model.js';
import type { Page } from '../../domain/page.js';
import { SlipwayError } from '../../errors/index.js';
import { forWrite, paging, toPage, writeTransaction } from '../../storage/sql-support.js';
import type { ModelQuery, NewModel, NewVersion, RegistryStore, VersionQuery } from '../registry-store.js';
import type { RegistryTables } from './schema.js';

type Db = Kysely<RegistryTables>;
type Executor = Db | Transaction<RegistryTables>;
type VersionRow = Selectable<RegistryTables['model_versions']>;
type ModelRow = Selectable<RegistryTables['models']>;

export interface SqlRegistryStoreOptions {
  readonly db: Db;
  /**
   * SQLite allows one writer; a write transaction must take the write lock when it begins
   * (`BEGIN IMMEDIATE`), otherwise a read that later upgrades to a write fails with SQLITE_BUSY
   * without waiting for busy_timeout. Other dialects use ordinary transactions.
   */
  readonly immediateTransactions: boolean;
}

/** `RegistryStore` on Kysely: one implementation for SQLite (and, by URI, other SQL databases). */
export class SqlRegistryStore implements RegistryStore {
  private readonly db: Db;
  private readonly immediate: boolean;

  constructor(options: SqlRegistryStoreOptions) {
    this.db = options.db;
    this.immediate = options.immediateTransactions;
  }

  async createModel(model: NewModel): Promise<Model> {
    const now = new Date().toISOString();
    await this.write(async (trx) => {
      // The primary key decides: of two creations of one name, exactly one inserts.
      const { numInsertedOrUpdatedRows } = await trx
        .insertInto('models')
        .values({
          name: model.name,
          description: model.description ?? '',
          tags: JSON.stringify(model.tags ?? {}),
          latest_version: 0,
          created_at: now,
          updated_at: now,
        })
        .onConflict((conflict) => conflict.column('name').doNothing())
        .executeTakeFirst();
      if (numInsertedOrUpdatedRows === 0n)
        throw new SlipwayError('ALREADY_EXISTS', `Model "${model.name}" already exists.`, {
          model: model.name,
        });
      for (const [key, value] of Object.entries(model.tags ?? {})) {
        await trx.insertInto('model_tags').values({ model_name: model.name, key, value }).execute();
      }
    });
    return this.getModel(model.name);
  }

  async getModel(name: string): Promise<Model> {
    const row = await this.db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
    if (!row) throw notFoundModel(name);
    const aliases = await this.aliasesOf(this.db, [name]);
    return toModel(row, aliases.get(name) ?? {});
  }

  async listModels(query: ModelQuery = {}): Promise<Page<Model>> {
    const { limit, offset } = paging(query);
    let select = this.db.selectFrom('models').selectAll();
    if (query.search)
      // Case-insensitive for ASCII letters, as SQLite's LIKE is; PostgreSQL's LIKE is not.
      select = select.where(
        sql<boolean>`lower(name) like lower(${`%${escapeLike(query.search)}%`}) escape '\\'`,
      );
    if (query.tag) {
      const [key, value] = splitTag(query.tag);
      select = select.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('model_tags')
            .select('model_tags.key')
            .whereRef('model_tags.model_name', '=', 'models.name')
            .where('model_tags.key', '=', key)
            .$if(value !== undefined, (q) => q.where('model_tags.value', '=', value!)),
        ),
      );
    }
    const rows = await select
      .orderBy('name')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    const aliases = await this.aliasesOf(
      this.db,
      rows.map((r) => r.name),
    );
    return toPage(
      rows.map((r) => toModel(r, aliases.get(r.name) ?? {})),
      limit,
      offset,
    );
  }

  async createVersion(
    model: string,
    version: NewVersion,
    artifactKey: (version: number) => string,
  ): Promise<ModelVersion> {
    const number = await this.write(async (trx) => {
      // The model's row stays locked until commit: concurrent pushes number their versions one after
      // the other, with no gap and no duplicate, whichever process they come from.
      const row = await forWrite(
        trx,
        trx.selectFrom('models').select('latest_version').where('name', '=', model),
      ).executeTakeFirst();
      if (!row) throw notFoundModel(model);
      const next = row.latest_version + 1;
      const now = new Date().toISOString();
      await trx
        .insertInto('model_versions')
        .values({
          model_name: model,
          version: next,
          status: 'PENDING',
          description: version.description,
          sha256: version.sha256,
          size_bytes: version.sizeBytes,
          artifact_key: artifactKey(next),
          signature: JSON.stringify(version.signature),
          metrics: JSON.stringify(version.metrics),
          tags: JSON.stringify(version.tags),
          input_policies: JSON.stringify(version.inputPolicies),
          sample: JSON.stringify(version.sample),
          task: version.task,
          uploader: version.lineage.uploader,
          run_id: version.lineage.runId,
          git_commit: version.lineage.gitCommit,
          dataset: version.lineage.dataset,
          failure_reason: null,
          created_at: now,
          unservable_reason: version.unservableReason ?? null,
        })
        .execute();
      for (const [key, value] of Object.entries(version.tags)) {
        await trx
          .insertInto('version_tags')
          .values({ model_name: model, version: next, key, value })
          .execute();
      }
      await trx
        .updateTable('models')
        .set({ latest_version: next, updated_at: now })
        .where('name', '=', model)
        .execute();
      return next;
    });
    return this.getVersion(model, number);
  }

  async markVersionReady(model: string, version: number): Promise<ModelVersion> {
    await this.transition(model, version, 'READY', null);
    return this.getVersion(model, version);
  }

  async markVersionFailed(model: string, version: number, reason: string): Promise<void> {
    await this.transition(model, version, 'FAILED', reason);
  }

  async failPendingVersions(reason: string, createdBefore?: string): Promise<number> {
    const result = await this.write((trx) =>
      trx
        .updateTable('model_versions')
        .set({ status: 'FAILED', failure_reason: reason })
        .where('status', '=', 'PENDING')
        .$if(createdBefore !== undefined, (q) => q.where('created_at', '<', createdBefore as string))
        .executeTakeFirst(),
    );
    return Number(result.numUpdatedRows);
  }

  async getVersion(model: string, version: number): Promise<ModelVersion> {
    const row = await this.db
      .selectFrom('model_versions')
      .selectAll()
      .where('model_name', '=', model)
      .where('version', '=', version)
      .executeTakeFirst();
    if (!row) {
      await this.getModel(model);
      throw new SlipwayError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, {
        model,
        version,
      });
    }
    const aliases = await this.db
      .selectFrom('aliases')
      .select('alias')
      .where('model_name', '=', model)
      .where('version', '=', version)
      .orderBy('alias')
      .execute();
    return toVersion(
      row,
      aliases.map((a) => a.alias),
    );
  }

  async listVersions(query: VersionQuery = {}): Promise<Page<ModelVersion>> {
    const { limit, offset } = paging(query);
    if (query.model !== undefined) await this.getModel(query.model);
    let select = this.db.selectFrom('model_versions').selectAll();
    if (query.model !== undefined) select = select.where('model_name', '=', query.model);
    if (query.status !== undefined) select = select.where('status', '=', query.status);
    if (query.uploader !== undefined) select = select.where('uploader', '=', query.uploader);
    if (query.runId !== undefined) select = select.where('run_id', '=', query.runId);
    if (query.tag !== undefined) {
      const [key, value] = splitTag(query.tag);
      select = select.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('version_tags')
            .select('version_tags.key')
            .whereRef('version_tags.model_name', '=', 'model_versions.model_name')
            .whereRef('version_tags.version', '=', 'model_versions.version')
            .where('version_tags.key', '=', key)
            .$if(value !== undefined, (q) => q.where('version_tags.value', '=', value!)),
        ),
      );
    }
    const rows = await select
      .orderBy('model_name')
      .orderBy('version', 'desc')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    const aliasRows =
      rows.length === 0
        ? []
        : await this.db
            .selectFrom('aliases')
            .select(['model_name', 'alias', 'version'])
            .where('model_name', 'in', [...new Set(rows.map((r) => r.model_name))])
            .orderBy('alias')
            .execute();
    const versions = rows.map((row) =>
      toVersion(
        row,
        aliasRows
          .filter((a) => a.model_name === row.model_name && a.version === row.version)
          .map((a) => a.alias),
      ),
    );
    return toPage(versions, limit, offset);
  }

  async setAlias(model: string, alias: string, version: number): Promise<{ previous: number | null }> {
    return this.write(async (trx) => {
      // One alias change of a model at a time: the current alias is read, then replaced.
      const owner = await forWrite(
        trx,
        trx.selectFrom('models').select('name').where('name', '=', model),
      ).executeTakeFirst();
      if (!owner) throw notFoundModel(model);
      const target = await trx
        .selectFrom('model_versions')
        .select('status')
        .where('model_name', '=', model)
        .where('version', '=', version)
        .executeTakeFirst();
      if (!target) {
        throw new SlipwayError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, {
          model,
          version,
        });
      }
      if (target.status !== 'READY') {
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `Version ${version} of "${model}" is ${target.status}; an alias can only point at a READY version.`,
          { model, version, status: target.status },
        );
      }
      const current = await trx
        .selectFrom('aliases')
        .select('version')
        .where('model_name', '=', model)
        .where('alias', '=', alias)
        .executeTakeFirst();
      const now = new Date().toISOString();
      if (current) {
        await trx
          .updateTable('aliases')
          .set({ version, updated_at: now })
          .where('model_name', '=', model)
          .where('alias', '=', alias)
          .execute();
      } else {
        await trx
          .insertInto('aliases')
          .values({ model_name: model, alias, version, updated_at: now })
          .execute();
      }
      return { previous: current?.version ?? null };
    });
  }

  async deleteAlias(model: string, alias: string): Promise<void> {
    await this.write(async (trx) => {
      const result = await trx
        .deleteFrom('aliases')
        .where('model_name', '=', model)
        .where('alias', '=', alias)
        .executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) await this.throwAliasNotFound(trx, model, alias);
    });
  }

  async resolveAlias(model: string, alias: string): Promise<number> {
    const row = await this.db
      .selectFrom('aliases')
      .select('version')
      .where('model_name', '=', model)
      .where('alias', '=', alias)
      .executeTakeFirst();
    if (!row) return this.throwAliasNotFound(this.db, model, alias);
    return row.version;
  }

  async setTag(model: string, version: number | null, key: string, value: string | null): Promise<void> {
    await this.write(async (trx) => {
      const now = new Date().toISOString();
      if (version === null) {
        const row = await forWrite(
          trx,
          trx.selectFrom('models').select('tags').where('name', '=', model),
        ).executeTakeFirst();
        if (!row) throw notFoundModel(model);
        const tags = JSON.parse(row.tags) as Record<string, string>;
        if (value === null && !(key in tags)) throw notFoundTag(model, version, key);
        await trx.deleteFrom('model_tags').where('model_name', '=', model).where('key', '=', key).execute();
        if (value === null) delete tags[key];
        else {
          tags[key] = value;
          await trx.insertInto('model_tags').values({ model_name: model, key, value }).execute();
        }
        await trx
          .updateTable('models')
          .set({ tags: JSON.stringify(tags), updated_at: now })
          .where('name', '=', model)
          .execute();
        return;
      }
      const row = await forWrite(
        trx,
        trx
          .selectFrom('model_versions')
          .select('tags')
          .where('model_name', '=', model)
          .where('version', '=', version),
      ).executeTakeFirst();
      if (!row) return this.throwVersionNotFound(trx, model, version);
      const tags = JSON.parse(row.tags) as Record<string, string>;
      if (value === null && !(key in tags)) throw notFoundTag(model, version, key);
      await trx
        .deleteFrom('version_tags')
        .where('model_name', '=', model)
        .where('version', '=', version)
        .where('key', '=', key)
        .execute();
      if (value === null) delete tags[key];
      else {
        tags[key] = value;
        await trx.insertInto('version_tags').values({ model_name: model, version, key, value }).execute();
      }
      await trx
        .updateTable('model_versions')
        .set({ tags: JSON.stringify(tags) })
        .where('model_name', '=', model)
        .where('version', '=', version)
        .execute();
    });
  }

  async setDescription(model: string, version: number | null, description: string): Promise<void> {
    await this.write(async (trx) => {
      if (version === null) {
        const result = await trx
          .updateTable('models')
          .set({ description, updated_at: new Date().toISOString() })
          .where('name', '=', model)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 0) throw notFoundModel(model);
        return;
      }
      const result = await trx
        .updateTable('model_versions')
        .set({ description })
        .where('model_name', '=', model)
        .where('version', '=', version)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) await this.throwVersionNotFound(trx, model, version);
    });
  }

  private async throwVersionNotFound(db: Executor, model: string, version: number): Promise<never> {
    const exists = await db.selectFrom('models').select('name').where('name', '=', model).executeTakeFirst();
    if (!exists) throw notFoundModel(model);
    throw new SlipwayError('VERSION_NOT_FOUND', `Model "${model}" has no version ${version}.`, {
      model,
      version,
    });
  }

  private async throwAliasNotFound(db: Executor, model: string, alias: string): Promise<never> {
    const exists = await db.selectFrom('models').select('name').where('name', '=', model).executeTakeFirst();
    if (!exists) throw notFoundModel(model);
    throw new SlipwayError('ALIAS_NOT_FOUND', `Model "${model}" has no alias "${alias}".`, { model, alias });
  }

  private async transition(
    model: string,
    version: number,
    status: VersionStatus,
    reason: string | null,
  ): Promise<void> {
    await this.write(async (trx) => {
      const result = await trx
        .updateTable('model_versions')
        .set({ status, failure_reason: reason })
        .where('model_name', '=', model)
        .where('version', '=', version)
        .where('status', '=', 'PENDING')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) {
        throw new SlipwayError('FAILED_PRECONDITION', `Version ${version} of "${model}" is not PENDING.`, {
          model,
          version,
        });
      }
    });
  }

  private async aliasesOf(db: Executor, models: string[]): Promise<Map<string, Record<string, number>>> {
    const byModel = new Map<string, Record<string, number>>();
    if (models.length === 0) return byModel;
    const rows = await db
      .selectFrom('aliases')
      .select(['model_name', 'alias', 'version'])
      .where('model_name', 'in', models)
      .orderBy('alias')
      .execute();
    for (const row of rows) {
      const aliases = byModel.get(row.model_name) ?? {};
      aliases[row.alias] = row.version;
      byModel.set(row.model_name, aliases);
    }
    return byModel;
  }

  /** Runs `work` in one write transaction (BEGIN IMMEDIATE on SQLite). */
  private write<T>(work: (trx: Transaction<RegistryTables>) => Promise<T>): Promise<T> {
    return writeTransaction(this.db, this.immediate, work);
  }
}

const notFoundModel = (name: string) =>
  new SlipwayError('MODEL_NOT_FOUND', `Model "${name}" does not exist.`, { model: name });

function splitTag(tag: string): [string, string | undefined] {
  const at = tag.indexOf('=');
  return at < 0 ? [tag, undefined] : [tag.slice(0, at), tag.slice(at + 1)];
}

/** Makes `%` and `_` (legal in model names) match themselves in a LIKE pattern. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function toModel(row: ModelRow, aliases: Record<string, number>): Model {
  return {
    name: row.name,
    description: row.description,
    tags: JSON.parse(row.tags) as Record<string, string>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    latestVersion: Number(row.latest_version),
    aliases,
  };
}

function toVersion(row: VersionRow, aliases: string[]): ModelVersion {
  return {
    model: row.model_name,
    version: Number(row.version),
    status: row.status as VersionStatus,
    description: row.description,
    sha256: row.sha256,
    sizeBytes: Number(row.size_bytes),
    artifactKey: row.artifact_key,
    signature: JSON.parse(row.signature),
    metrics: JSON.parse(row.metrics),
    tags: JSON.parse(row.tags),
    inputPolicies: JSON.parse(row.input_policies),
    sample: JSON.parse(row.sample),
    task: row.task,
    lineage: { uploader: row.uploader, runId: row.run_id, gitCommit: row.git_commit, dataset: row.dataset },
    createdAt: row.created_at,
    aliases,
    unservableReason: row.unservable_reason ?? null,
  };
}

function notFoundTag(model: string, version: number | null, key: string): SlipwayError {
  const owner = version === null ? `Model "${model}"` : `Version ${version} of "${model}"`;
  return new SlipwayError('NOT_FOUND', `${owner} has no tag "${key}".`, { model, tag: key });
}
