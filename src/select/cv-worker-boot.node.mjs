// Entry of a cross-validation worker thread: registers the TypeScript loader (tsx), then runs the worker.
import { register } from 'tsx/esm/api';
register();
await import('./cv-worker.node.ts');
