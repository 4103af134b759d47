/** Entry of the bundled GPU check (pack.ts): the modules first, then the check. */
import './provide.js';

await import('./main.js');
