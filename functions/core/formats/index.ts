/** Public API of the formats module: detect an export's platform, map its columns, turn rows into MappedRows. */

export {
  cleanCell,
  isExcelScientific,
  parseBoolean,
  parseNumber,
  splitList,
  stripFormulaGuard,
} from './cells';
export { type DateParse, inferDayFirst, parseBirthday, parseTimestamp } from './dates';
export { DetectionError, type DetectionErrorCode, detectFormat, looksLikeData } from './detect';
export { mailchimpStatusFromEntryName } from './mailchimp';
export {
  createRowMapper,
  dayFirstEvidenceFor,
  isRejection,
  type RowContext,
  type RowRejection,
  type RowResult,
  sniffDayFirst,
} from './map-row';
export { FORMATS } from './registry';
export {
  type ColumnMapping,
  type ColumnRef,
  type Detection,
  type DetectOptions,
  FIELD_NAMES,
  type FieldName,
  FORMAT_IDS,
  type FormatId,
} from './types';
