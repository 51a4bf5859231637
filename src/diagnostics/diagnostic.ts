import { byCodeUnit } from '../base/order.ts';

/** A problem found in the user's input, located in a source file when possible. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  code: DiagnosticCode;
  message: string;
  /** Path of the file as the user should see it (relative to the working directory when possible). */
  file?: string;
  line?: number;
  col?: number;
  /** Dotted path of the value inside the merged profile, when the problem concerns one value. */
  path?: string;
}

export type DiagnosticCode =
  | 'YAML_SYNTAX'
  | 'YAML_DUPLICATE_KEY'
  | 'YAML_ALIAS'
  | 'YAML_TAB'
  | 'YAML_TAG'
  | 'RESERVED_KEY'
  | 'INVALID_KEY'
  | 'NOT_CLOUD_CONFIG'
  | 'FILE_UNREADABLE'
  | 'FILE_TOO_LARGE'
  | 'NOT_A_MAPPING'
  | 'UNKNOWN_KEY'
  | 'INVALID_TYPE'
  | 'INVALID_VALUE'
  | 'MISSING_KEY'
  | 'OUT_OF_RANGE'
  | 'UNKNOWN_PROFILE'
  | 'USAGE'
  | 'INVALID_PROFILE_NAME'
  | 'EXTENDS_CYCLE'
  | 'EXTENDS_MISSING'
  | 'EXTENDS_TOO_DEEP'
  | 'OVERLAY_ALONE'
  | 'CAPACITY_CONFLICT'
  | 'BPF_JIT_LIMIT_TOO_HIGH'
  | 'NOFILE_ABOVE_NR_OPEN'
  | 'VALUE_BELOW_DEFAULT'
  | 'USE_TOP_LEVEL_KEY'
  | 'DUPLICATE_SYSCTL'
  | 'UNDOCUMENTED_SYSCTL'
  | 'UNSUPPORTED_BY_TARGET'
  | 'UNSUPPORTED_BY_VERSION'
  | 'SECRET_INLINE'
  | 'SECRET_IN_USER_DATA'
  | 'USER_DATA_SIZE'
  | 'INCONSISTENT_VALUES'
  | 'OUT_OLD_TREE_LEFT'
  | 'SHADOWS_SHIPPED';

/** Collects diagnostics from a stage instead of throwing, so every problem is reported at once. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  add(d: Diagnostic): void {
    this.items.push(d);
  }

  error(code: DiagnosticCode, message: string, at: Location = {}): void {
    this.items.push({ severity: 'error', code, message, ...at });
  }

  warning(code: DiagnosticCode, message: string, at: Location = {}): void {
    this.items.push({ severity: 'warning', code, message, ...at });
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }
}

/** Where a diagnostic points. */
interface Location {
  file?: string;
  line?: number;
  col?: number;
  path?: string;
}

/** Orders diagnostics by file, line and column so output is stable whatever order stages ran in. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort(
    (a, b) =>
      byCodeUnit(a.file ?? '', b.file ?? '') ||
      (a.line ?? 0) - (b.line ?? 0) ||
      (a.col ?? 0) - (b.col ?? 0) ||
      byCodeUnit(a.code, b.code) ||
      byCodeUnit(a.message, b.message),
  );
}
