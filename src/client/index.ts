/** bindery/client: the typed SDK. */
export { BinderyClient, type BinderyClientOptions, type ImportOptions, type ReadOptions } from './bindery-client.ts';
export { BinderyError, RetCode } from './errors.ts';
export { REGIONS, type RegionName } from './regions.ts';
export type * from './types.ts';
