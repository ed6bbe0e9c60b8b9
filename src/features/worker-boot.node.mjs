// Entry of a feature worker thread: registers the TypeScript loader (tsx), then runs the worker.
import { register } from 'tsx/esm/api';
register();
await import('./worker.node.ts');
