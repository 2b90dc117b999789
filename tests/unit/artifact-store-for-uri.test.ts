import { describe, expect, it } from 'vitest';
import { artifactStoreForUri, parseS3Uri } from '../../src/artifacts/artifact-store-for-uri.js';
import { S3ArtifactStore } from '../../src/artifacts/s3/s3-artifact-store.js';
import { compileConfig } from '../../src/config/index.js';

describe('s3:// artifact URIs', () => {
  it('takes a bucket and an optional prefix', () => {
    expect(parseS3Uri('s3://models')).toEqual({ bucket: 'models', prefix: '' });
    expect(parseS3Uri('s3://models/')).toEqual({ bucket: 'models', prefix: '' });
    expect(parseS3Uri('s3://my.models-1/slipway/prod/')).toEqual({
      bucket: 'my.models-1',
      prefix: 'slipway/prod',
    });
    expect(artifactStoreForUri('s3://models/slipway', { s3: { region: 'us-east-1' } })).toBeInstanceOf(
      S3ArtifactStore,
    );
  });

  it('refuses what is not a bucket and a safe prefix, naming the variable', () => {
    for (const bad of [
      's3://',
      's3:models',
      's3://Models',
      's3://a',
      's3://user@models',
      's3://models:9000/x',
      's3://models/a/../b',
      's3://models//a',
      's3://models/a?x=1',
      's3://models/%2e%2e/a',
      's3://models/.staging',
      's3://models/a\\b',
    ]) {
      expect(() => parseS3Uri(bad), bad).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { variable: 'SLIPWAY_ARTIFACT_URI' } }),
      );
    }
  });
});

describe('AWS settings in the config', () => {
  const compile = (env: Record<string, string>) => compileConfig({}, env, '/nonexistent');

  it('reads the standard AWS variables, leaving unset ones to the SDK', () => {
    expect(compile({}).s3).toEqual({});
    expect(
      compile({
        AWS_ENDPOINT_URL: 'http://127.0.0.1:9000',
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: 'id',
        AWS_SECRET_ACCESS_KEY: 'secret',
      }).s3,
    ).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-west-1',
      accessKeyId: 'id',
      secretAccessKey: 'secret',
    });
  });

  it('refuses half a key pair and an endpoint that is not a URL', () => {
    expect(() => compile({ AWS_ACCESS_KEY_ID: 'id' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
    expect(() => compile({ AWS_ENDPOINT_URL: 'minio:9000' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { variable: 'AWS_ENDPOINT_URL' } }),
    );
  });
});
