// Types of scripts/generated-section.mjs, for the documentation tests.
export declare const BEGIN: string;
export declare const END: string;
export declare function replaceGenerated(page: string, generated: string): string;
export declare function formatMarkdown(text: string, file: string): Promise<string>;
export declare function cell(value: unknown): string;
export declare function prose(text: string): string;
