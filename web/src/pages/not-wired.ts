/** Pages whose API routes are not on this branch yet: the shells say so plainly instead of showing fake data. */
import type { Page } from '../context.js';
import { h, replace } from '../dom.js';

function notWired(title: string, what: string, route: string): Page {
  return (main) => {
    replace(
      main,
      h('h1', {}, title),
      h(
        'div',
        { class: 'card notice', role: 'note', 'data-not-wired': 'true' },
        h('p', {}, h('strong', {}, 'Not wired yet. '), `${what} The API route this page needs (${route}) is not served by this vigild, so nothing is shown here rather than made-up data.`),
      ),
    );
  };
}

/** #/alarms */
export const alarmsPage = notWired('Host alarms', 'File integrity, honeypot and listening-port alarms will be listed here.', 'host alarms');
