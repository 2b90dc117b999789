/** One page of a listing; `nextPageToken` is null on the last page. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly nextPageToken: string | null;
}

export interface PageRequest {
  /** 1 to 1000; default 100. */
  readonly limit?: number;
  /** Opaque token from a previous page. */
  readonly pageToken?: string;
}
