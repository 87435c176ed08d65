/**
 * The AI Factory inside JupyterLab: an "AI Factory" launcher section whose cards open each
 * capability's starter notebook and run it, and a status bar item with the session's project,
 * partition, time left and GPU-hours left that warns before the wall time ends the session.
 *
 * Every fact comes from the server extension (aifactory_lab) under the server's base URL; this
 * file only draws them.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';
import { NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ServerConnection } from '@jupyterlab/services';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';
import { Signal } from '@lumino/signaling';
import { Widget } from '@lumino/widgets';

import {
  ICard,
  ISessionInfo,
  dueWarning,
  isInSlurm,
  secondsLeft,
  statusText,
  warningText
} from './session';
import factorySvg from '../style/icons/factory.svg';

const CATEGORY = 'AI Factory';
/** Before "Notebook" (0): the factory is what this JupyterLab is for. */
const CATEGORY_RANK = -1;
const TICK_MS = 30_000;
const REFETCH_MS = 60_000;

const factoryIcon = new LabIcon({ name: 'aifactory:factory', svgstr: factorySvg });

/** A JSON answer of the server extension (`path` under <base>/aifactory/). */
async function requestJSON<T>(path: string, init: RequestInit = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'aifactory', path);
  const response = await ServerConnection.makeRequest(url, init, settings);
  if (!response.ok) {
    throw new ServerConnection.ResponseError(response);
  }
  return (await response.json()) as T;
}

/** Run every cell once the notebook's kernel has answered, so its widget shows at once. */
async function runWhenReady(widget: unknown): Promise<void> {
  if (!(widget instanceof NotebookPanel)) {
    return;
  }
  await widget.context.ready;
  await widget.sessionContext.ready;
  const kernel = widget.sessionContext.session?.kernel;
  if (!kernel) {
    return; // no kernel chosen: nothing can run, and the user sees why
  }
  await kernel.info;
  await NotebookActions.runAll(widget.content, widget.sessionContext);
}

const launcherPlugin: JupyterFrontEndPlugin<void> = {
  id: '@aifactory/lab:launcher',
  description: 'The AI Factory section of the launcher and the command palette.',
  autoStart: true,
  optional: [ILauncher, ICommandPalette],
  activate: async (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null
  ): Promise<void> => {
    let cards: ICard[];
    try {
      cards = await requestJSON<ICard[]>('cards');
    } catch (error) {
      console.error('AI Factory: no cards from the server extension', error);
      return;
    }
    cards.forEach((card, rank) => {
      const command = `aifactory:open-${card.id}`;
      app.commands.addCommand(command, {
        label: card.title,
        caption: card.caption,
        icon: factoryIcon,
        execute: async () => {
          const opened = await requestJSON<{ path: string; created: boolean }>(
            `cards/${encodeURIComponent(card.id)}/open`,
            { method: 'POST' }
          );
          const widget = await app.commands.execute('docmanager:open', {
            path: opened.path
          });
          runWhenReady(widget).catch(error =>
            console.error(`AI Factory: running ${opened.path} failed`, error)
          );
          // The launcher replaces itself by a widget a command returns.
          return widget;
        }
      });
      launcher?.add({ command, category: CATEGORY, categoryRank: CATEGORY_RANK, rank });
      palette?.addItem({ command, category: CATEGORY });
    });
  }
};

/** The status bar's text and its wall-time warnings, for one page load. */
class SessionStatus {
  readonly item = new Widget();
  readonly activeStateChanged = new Signal<this, void>(this);
  private _info: ISessionInfo | null = null;
  private readonly _warned = new Set<number>();

  constructor(private readonly _app: JupyterFrontEnd) {
    this.item.addClass('aifactory-StatusItem');
    this.item.id = 'aifactory-session-status';
  }

  get isActive(): boolean {
    return this._info !== null && isInSlurm(this._info);
  }

  /** Ask the server again; a failed answer keeps the last one (the server may be busy). */
  async refresh(): Promise<void> {
    const wasActive = this.isActive;
    try {
      this._info = await requestJSON<ISessionInfo>('session');
    } catch (error) {
      console.warn('AI Factory: session info unavailable', error);
    }
    if (this.isActive !== wasActive) {
      this.activeStateChanged.emit();
    }
    this.render();
  }

  /** Redraw the text from the browser's clock, and warn when a threshold is reached. */
  render(now: Date = new Date()): void {
    const info = this._info;
    if (!info || !isInSlurm(info)) {
      return;
    }
    this.item.node.textContent = statusText(info, now);
    const details = [info.job_id && `Slurm job ${info.job_id}`, info.node && `on ${info.node}`];
    this.item.node.title = [...details.filter(Boolean), ...info.notes].join('\n');
    const left = secondsLeft(info, now);
    if (left !== null && dueWarning(left, this._warned) !== null) {
      this.item.addClass('aifactory-mod-urgent');
      this.warn(left);
    }
  }

  private warn(left: number): void {
    Notification.warning(warningText(left), {
      autoClose: false,
      actions: [
        {
          label: 'Save all',
          callback: () => void this._app.commands.execute('docmanager:save-all')
        }
      ]
    });
  }
}

const statusPlugin: JupyterFrontEndPlugin<void> = {
  id: '@aifactory/lab:status',
  description: "The session's project, partition, time left and GPU-hours in the status bar.",
  autoStart: true,
  optional: [IStatusBar],
  activate: (app: JupyterFrontEnd, statusBar: IStatusBar | null): void => {
    const status = new SessionStatus(app);
    statusBar?.registerStatusItem('@aifactory/lab:status', {
      item: status.item,
      align: 'left',
      rank: -1,
      isActive: () => status.isActive,
      activeStateChanged: status.activeStateChanged
    });
    void status.refresh();
    window.setInterval(() => status.render(), TICK_MS);
    window.setInterval(() => void status.refresh(), REFETCH_MS);
  }
};

export default [launcherPlugin, statusPlugin];
