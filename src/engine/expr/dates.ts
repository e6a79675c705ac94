/**
 * Calendar arithmetic on the stored units (dates: days since 1970-01-01; timestamps: UTC milliseconds),
 * with H. Hinnant's civil-from-days algorithm: exact over the whole range and free of Date objects, so
 * it runs in the per-row loops. Everything is UTC: timestamps carry no time zone in rxserve.
 */

export const MS_PER_DAY = 86_400_000;

/** Year, month (1-12) and day (1-31) of a day number; written into `out` to avoid an allocation per row. */
export function civilFromDays(days: number, out: Int32Array): void {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  out[0] = yoe + era * 400 + (month <= 2 ? 1 : 0);
  out[1] = month;
  out[2] = day;
}

/** Day number of a civil date (month 1-12); no range check. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const DATE = /^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$/;
const TIMESTAMP =
  /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/** Days of 'YYYY-MM-DD' (or 'YYYY/MM/DD', R's second default format); null when it is not a valid date. */
export function parseDate(text: string): number | null {
  const m = DATE.exec(text.trim());
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  return daysFromCivil(year, month, day);
}

/** UTC ms of 'YYYY-MM-DD[ HH:MM[:SS[.fff]]][Z|+hh:mm]'; null when it is not a valid timestamp. */
export function parseTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text.trim());
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  const hour = Number(m[4] ?? 0);
  const minute = Number(m[5] ?? 0);
  const second = Number(m[6] ?? 0);
  if (hour > 23 || minute > 59 || second > 59) return null;
  const fraction = m[7] === undefined ? 0 : Number(`0.${m[7]}`);
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.replace(':', '');
    offsetMinutes =
      (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
  }
  const seconds = hour * 3600 + minute * 60 + second - offsetMinutes * 60;
  return daysFromCivil(year, month, day) * MS_PER_DAY + Math.round((seconds + fraction) * 1000);
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

const civil = new Int32Array(3);

/** 'YYYY-MM-DD' of a day number (fractional days are floored, as R prints them). */
export function formatDate(days: number): string {
  civilFromDays(Math.floor(days), civil);
  const year = civil[0] as number;
  const y = year < 0 ? `-${pad(-year, 4)}` : pad(year, 4);
  return `${y}-${pad(civil[1] as number, 2)}-${pad(civil[2] as number, 2)}`;
}

/** 'YYYY-MM-DD HH:MM:SS' (UTC) of a timestamp, as R's format.POSIXct prints a time. */
export function formatTimestamp(ms: number): string {
  const days = Math.floor(ms / MS_PER_DAY);
  const secondsOfDay = Math.floor((ms - days * MS_PER_DAY) / 1000);
  const h = Math.floor(secondsOfDay / 3600);
  const m = Math.floor((secondsOfDay % 3600) / 60);
  const s = secondsOfDay % 60;
  return `${formatDate(days)} ${pad(h, 2)}:${pad(m, 2)}:${pad(s, 2)}`;
}

export const WEEKDAYS = [
  'Monday',
  'Tuesday',
  'Wednesday',
  'Thursday',
  'Friday',
  'Saturday',
  'Sunday',
] as const;

export type DatePart =
  | 'year'
  | 'month'
  | 'day'
  | 'hour'
  | 'minute'
  | 'second'
  | 'dayOfWeek'
  | 'dayOfYear'
  | 'quarter';

/**
 * Writes one calendar part of n dates (`unit` 1: days) or timestamps (`unit` MS_PER_DAY: ms) into `out`
 * as numbers (dayOfWeek: 0 = Monday ... 6 = Sunday, the factor code). NaN stays NaN.
 */
export function datePart(
  part: DatePart,
  values: Float64Array,
  msPerUnit: number,
  out: Float64Array,
  n: number,
): void {
  const parts = new Int32Array(3);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v) || !Number.isFinite(v)) {
      out[i] = Number.NaN;
      continue;
    }
    const days = msPerUnit === 1 ? Math.floor(v) : Math.floor(v / MS_PER_DAY);
    switch (part) {
      case 'year':
      case 'month':
      case 'day':
      case 'quarter':
      case 'dayOfYear':
        civilFromDays(days, parts);
        if (part === 'year') out[i] = parts[0] as number;
        else if (part === 'month') out[i] = parts[1] as number;
        else if (part === 'day') out[i] = parts[2] as number;
        else if (part === 'quarter') out[i] = Math.floor(((parts[1] as number) - 1) / 3) + 1;
        else out[i] = days - daysFromCivil(parts[0] as number, 1, 1) + 1;
        break;
      case 'dayOfWeek':
        // 1970-01-01 was a Thursday (code 3 when Monday is 0).
        out[i] = (((days + 3) % 7) + 7) % 7;
        break;
      default: {
        const msOfDay = msPerUnit === 1 ? 0 : v - days * MS_PER_DAY;
        if (part === 'hour') out[i] = Math.floor(msOfDay / 3_600_000);
        else if (part === 'minute') out[i] = Math.floor(msOfDay / 60_000) % 60;
        else out[i] = Math.floor(msOfDay / 1000) % 60;
      }
    }
  }
}
