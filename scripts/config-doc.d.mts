// Types of scripts/config-doc.mjs, for the documentation tests.
import type { z } from 'zod';

export interface ConfigKey {
  key: string;
  type: string;
  default: string;
  description: string;
}
export declare function configJsonSchema(configSchema: z.ZodType): Record<string, unknown>;
export declare function configKeys(jsonSchema: Record<string, unknown>): ConfigKey[];
export declare function renderConfigReference(jsonSchema: Record<string, unknown>): string;
export declare function configurationPage(page: string, configSchema: z.ZodType): Promise<string>;
