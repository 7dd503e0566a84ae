// Types of scripts/errors-doc.mjs, for the documentation tests.
export declare function renderErrorTables(
  errorCatalog: Record<string, { exit: number; fix: string }>,
  deviceErrorCatalog: Record<string, string>,
): string;
export declare function errorsPage(
  page: string,
  errorCatalog: Record<string, { exit: number; fix: string }>,
  deviceErrorCatalog: Record<string, string>,
): Promise<string>;
