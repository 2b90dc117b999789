import type { Readable } from 'node:stream';
import type { StagedArtifact, StageOptions } from '../../src/artifacts/artifact-store.js';
import { LocalArtifactStore } from '../../src/artifacts/local/local-artifact-store.js';

/**
 * A real local store whose staging waits until the test releases it: a store that cannot keep up (a
 * slow disk, a remote store under load), held exactly as long as a test needs.
 */
export class GatedArtifactStore extends LocalArtifactStore {
  private open!: () => void;
  private readonly gate = new Promise<void>((resolve) => {
    this.open = resolve;
  });
  /** How many stagings have started (and are waiting, until `release`). */
  stages = 0;

  /** Lets every staging waiting now, and every later one, go through. */
  release(): void {
    this.open();
  }

  override async stage(
    source: Readable | AsyncIterable<Uint8Array>,
    options: StageOptions,
  ): Promise<StagedArtifact> {
    this.stages += 1;
    await this.gate;
    return super.stage(source, options);
  }
}
