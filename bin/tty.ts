/**
 * Terminal niceties only where a person watches: colours and progress appear when stdout is a TTY (and NO_COLOR
 * is not set); piped output, files and tests get plain text, unchanged.
 */
import { styleText } from 'node:util';

export const isInteractive = (stream: NodeJS.WriteStream = process.stdout) =>
  !!stream.isTTY && process.env.TERM !== 'dumb' && !process.env.CI;

const useColour = () => isInteractive() && !process.env.NO_COLOR;

type Style = 'red' | 'green' | 'yellow' | 'dim' | 'bold' | 'cyan';

export function paint(style: Style, text: string): string {
  return useColour() ? styleText(style, text) : text;
}
