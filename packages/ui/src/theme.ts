// Light or dark: the choice remembered in localStorage ('light' | 'dark'), else the system's
// prefers-color-scheme, followed live. The stylesheet keys every colour on <html data-theme>.
import { useEffect, useState } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';
export type Theme = 'light' | 'dark';

const storageKey = 'herald.theme';
const darkQuery = '(prefers-color-scheme: dark)';
const listeners = new Set<() => void>();

export function themeChoice(): ThemeChoice {
  const stored = localStorage.getItem(storageKey);
  return stored === 'light' || stored === 'dark' ? stored : 'system';
}

export function currentTheme(): Theme {
  const choice = themeChoice();
  if (choice !== 'system') return choice;
  return window.matchMedia(darkQuery).matches ? 'dark' : 'light';
}

function apply(): void {
  document.documentElement.dataset.theme = currentTheme();
  for (const listener of listeners) listener();
}

export function setThemeChoice(choice: ThemeChoice): void {
  if (choice === 'system') localStorage.removeItem(storageKey);
  else localStorage.setItem(storageKey, choice);
  apply();
}

/** Applies the theme now and whenever the system preference changes. */
export function startTheme(): void {
  apply();
  window.matchMedia(darkQuery).addEventListener('change', apply);
}

/** The theme in force, re-rendered when it changes (charts read their colours from it). */
export function useTheme(): { theme: Theme; choice: ThemeChoice } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const update = () => setTick((n) => n + 1);
    listeners.add(update);
    return () => {
      listeners.delete(update);
    };
  }, []);
  return { theme: currentTheme(), choice: themeChoice() };
}

/** A colour token's value in the theme in force (for canvas charts, which CSS cannot reach). */
export function token(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
