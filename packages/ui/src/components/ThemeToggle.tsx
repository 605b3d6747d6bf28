import { setThemeChoice, useTheme, type ThemeChoice } from '../theme.js';

const next: Record<ThemeChoice, ThemeChoice> = { system: 'dark', dark: 'light', light: 'system' };
const icon: Record<ThemeChoice, string> = { system: '◐', dark: '☾', light: '☀' };

/** Cycles system → dark → light; the choice is remembered in this browser. */
export function ThemeToggle() {
  const { choice, theme } = useTheme();
  return (
    <button
      className="small-button theme-toggle"
      data-testid="theme-toggle"
      data-choice={choice}
      title={`Theme: ${choice === 'system' ? `as the system (${theme})` : choice}; click for ${next[choice]}`}
      aria-label={`Theme: ${choice}`}
      onClick={() => setThemeChoice(next[choice])}
    >
      {icon[choice]}
    </button>
  );
}
