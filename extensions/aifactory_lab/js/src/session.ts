/**
 * The session's facts as the server extension reports them, and the pure rules that turn
 * them into the status bar's text and the wall-time warnings (no DOM, no clock of its own:
 * every function takes `now`, so the rules read the same in a test as in the browser).
 */

/** GET aifactory/session: what Slurm says about this session's job (null outside Slurm). */
export interface ISessionInfo {
  job_id: string | null;
  project: string | null;
  partition: string | null;
  node: string | null;
  /** ISO 8601 UTC; the job's end under its wall time. */
  ends_at: string | null;
  gpu_hours_left: number | null;
  gpu_hours_granted: number | null;
  cpu_hours_left: number | null;
  notes: string[];
}

/** GET aifactory/cards: one launcher card, in launcher order. */
export interface ICard {
  id: string;
  title: string;
  caption: string;
  starter: string;
}

/** Minutes before the wall time at which the user is told to save: most urgent last. */
export const WARNING_MINUTES: readonly number[] = [10, 2];

/** Seconds from `now` to the session's end, or null when it has no known end. */
export function secondsLeft(info: ISessionInfo, now: Date): number | null {
  if (!info.ends_at) {
    return null;
  }
  const end = Date.parse(info.ends_at);
  if (Number.isNaN(end)) {
    return null;
  }
  return Math.max(0, Math.floor((end - now.getTime()) / 1000));
}

/** "0:47" for 47 minutes, "12:05" for twelve hours and five minutes. Minutes are rounded up,
 * as a countdown does (4:59 left reads "0:05"), so the figure agrees with the warnings. */
export function formatTimeLeft(seconds: number): string {
  const minutes = Math.ceil(seconds / 60);
  const hours = Math.floor(minutes / 60);
  return `${hours}:${String(minutes % 60).padStart(2, '0')}`;
}

/** "ai-alpha · cpu · 0:47 left · 12.5 GPU-h left", leaving out what is not known. */
export function statusText(info: ISessionInfo, now: Date): string {
  const parts: string[] = [];
  if (info.project) {
    parts.push(info.project);
  }
  if (info.partition) {
    parts.push(info.partition);
  }
  const left = secondsLeft(info, now);
  if (left !== null) {
    parts.push(`${formatTimeLeft(left)} left`);
  }
  if (info.gpu_hours_left !== null && info.gpu_hours_left !== undefined) {
    parts.push(`${info.gpu_hours_left.toFixed(1)} GPU-h left`);
  }
  return parts.join(' · ');
}

/** Outside Slurm every fact is null and the status item has nothing to say. */
export function isInSlurm(info: ISessionInfo): boolean {
  return Boolean(info.project || info.partition || info.ends_at || info.job_id);
}

/**
 * Which warning to show now, if any: the most urgent threshold already reached that has not
 * been shown, marking every reached one as shown. A page opened with 5 minutes left thus
 * gets the 10-minute warning once (and the 2-minute one later); one opened with 1 minute left
 * gets a single warning, not two.
 */
export function dueWarning(
  left: number | null,
  shown: Set<number>,
  thresholds: readonly number[] = WARNING_MINUTES
): number | null {
  if (left === null) {
    return null;
  }
  const reached = thresholds.filter(m => left <= m * 60 && !shown.has(m));
  if (reached.length === 0) {
    return null;
  }
  reached.forEach(m => shown.add(m));
  return Math.min(...reached);
}

/** The warning's words, with the minutes actually left (rounded up, at least 1). */
export function warningText(left: number): string {
  const minutes = Math.max(1, Math.ceil(left / 60));
  const unit = minutes === 1 ? 'minute' : 'minutes';
  return `Your session ends in ${minutes} ${unit} (its wall time): save your work.`;
}
