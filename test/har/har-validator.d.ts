/** The part of har-validator (5.x, untyped) the HAR tests use: promise API, rejects with ajv errors. */
declare module 'har-validator' {
  interface HarValidationError extends Error {
    errors: { dataPath: string; message?: string; keyword: string; params: Record<string, unknown> }[];
  }
  const validator: {
    har(data: unknown): Promise<unknown>;
    entry(data: unknown): Promise<unknown>;
  };
  export type { HarValidationError };
  export default validator;
}
