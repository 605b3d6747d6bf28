// Screens load as chunks of their own (React.lazy): a named export becomes the lazy component.
import { lazy, type ComponentType } from 'react';

export function lazyScreen<M, K extends keyof M>(load: () => Promise<M>, name: K): M[K] {
  return lazy(async () => ({ default: (await load())[name] as ComponentType<unknown> })) as unknown as M[K];
}
