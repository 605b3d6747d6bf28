// The code editor of values, policies and schemas: CodeMirror 6 with JSON or YAML highlighting,
// folding, bracket matching, and each problem shown at its place (JSON syntax errors, and the
// diagnostics given: schema violations located by their path). Lines never wrap (a long line
// scrolls inside the editor), so nothing breaks in the middle of a token. Loaded lazily: see
// LazyCodeEditor.tsx, the only way screens use it.
import { useEffect, useRef } from 'react';
import { basicSetup } from 'codemirror';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { yaml } from '@codemirror/lang-yaml';
import { forceLinting, linter, type Diagnostic } from '@codemirror/lint';
import { ensureSyntaxTree, HighlightStyle, syntaxHighlighting, syntaxTree } from '@codemirror/language';
import { tags } from '@lezer/highlight';
import type { SyntaxNode } from '@lezer/common';

export interface CodeDiagnostic {
  /** Where the problem is, as a JSON Pointer (`/a/0/b`), a `key:/pointer`, or dotted (`waves[0].bake`). */
  path?: string;
  from?: number;
  to?: number;
  message: string;
}

export interface CodeEditorProps {
  value: string;
  onChange: (value: string) => void;
  language: 'json' | 'yaml' | 'text';
  readOnly?: boolean;
  diagnostics?: CodeDiagnostic[];
  /** The accessible name of the editing area (what getByLabel finds). */
  ariaLabel: string;
  invalid?: boolean;
}

// Token colours from the theme's CSS variables, so one style serves light and dark.
const highlight = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: 'var(--code-key)' },
  { tag: [tags.string, tags.special(tags.string)], color: 'var(--code-string)' },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], color: 'var(--code-number)' },
  { tag: [tags.keyword, tags.operator], color: 'var(--code-keyword)' },
  { tag: [tags.comment, tags.meta], color: 'var(--muted)', fontStyle: 'italic' },
  { tag: tags.invalid, color: 'var(--red)' },
]);

const languageOf = (language: CodeEditorProps['language']): Extension =>
  language === 'json' ? json() : language === 'yaml' ? yaml() : [];

/** A path's segments: `/a/0/b`, `key:/a/b` (the part after the colon) or `waves[0].bake`. */
export function pathSegments(path: string): string[] {
  const pointer = path.includes(':/') ? path.slice(path.indexOf(':/') + 1) : path;
  if (pointer.startsWith('/'))
    return pointer
      .slice(1)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => s.replace(/~1/gu, '/').replace(/~0/gu, '~'));
  return pointer
    .replace(/\[(\d+)\]/gu, '.$1')
    .split('.')
    .filter((s) => s !== '');
}

/** The range of the JSON value at `segments`, from the syntax tree; the deepest part found. */
function jsonRange(state: EditorState, segments: string[]): { from: number; to: number } {
  const tree = syntaxTree(state);
  let node: SyntaxNode | null = tree.topNode.firstChild;
  let found = { from: 0, to: Math.min(state.doc.length, state.doc.line(1).to) };
  if (node) found = { from: node.from, to: node.to };
  for (const segment of segments) {
    if (!node) break;
    let next: SyntaxNode | null = null;
    if (node.name === 'Object') {
      for (let child = node.firstChild; child; child = child.nextSibling) {
        if (child.name !== 'Property') continue;
        const name = child.getChild('PropertyName');
        if (name && state.sliceDoc(name.from + 1, name.to - 1) === segment) {
          next = child.lastChild;
          found = { from: name.from, to: child.to };
          break;
        }
      }
    } else if (node.name === 'Array') {
      let index = 0;
      for (let child = node.firstChild; child; child = child.nextSibling) {
        if (child.name === '[' || child.name === ']' || child.name === ',' || child.type.isError) continue;
        if (String(index) === segment) {
          next = child;
          found = { from: child.from, to: child.to };
          break;
        }
        index += 1;
      }
    }
    node = next;
  }
  return found;
}

/**
 * A JSON syntax error at its place: the parser's error node (JSON.parse's message names no
 * position in every browser), with JSON.parse's words for it.
 */
function jsonSyntaxProblems(view: EditorView): Diagnostic[] {
  const parsed = jsonParseLinter()(view);
  if (parsed.length === 0) return [];
  const tree = ensureSyntaxTree(view.state, view.state.doc.length, 200) ?? syntaxTree(view.state);
  let at: { from: number; to: number } | null = null;
  tree.iterate({
    enter: (node) => {
      if (at) return false;
      if (node.type.isError) at = { from: node.from, to: node.to };
      return undefined;
    },
  });
  const length = view.state.doc.length;
  const place = at as { from: number; to: number } | null;
  const from = Math.min(place?.from ?? parsed[0]?.from ?? 0, Math.max(0, length - 1));
  const to = Math.min(length, Math.max(from + 1, place?.to ?? 0));
  return [{ from, to, severity: 'error', message: parsed[0]?.message ?? 'not valid JSON' }];
}

export function CodeEditor(props: CodeEditorProps) {
  const box = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const language = useRef(new Compartment());
  const editable = useRef(new Compartment());

  useEffect(() => {
    const parent = box.current;
    if (!parent) return;
    const problems = linter(
      (v) => {
        const { diagnostics = [], language: lang } = latest.current;
        const found: Diagnostic[] = lang === 'json' && v.state.doc.length > 0 ? jsonSyntaxProblems(v) : [];
        for (const d of diagnostics) {
          const range =
            d.from !== undefined
              ? { from: d.from, to: d.to ?? d.from }
              : lang === 'json' && d.path !== undefined
                ? jsonRange(v.state, pathSegments(d.path))
                : { from: 0, to: Math.min(v.state.doc.length, v.state.doc.line(1).to) };
          const from = Math.min(range.from, v.state.doc.length);
          found.push({
            from,
            to: Math.max(from, Math.min(range.to, v.state.doc.length)),
            severity: 'error',
            message: d.path ? `${d.path}: ${d.message}` : d.message,
          });
        }
        return found;
      },
      { delay: 150 },
    );
    const created = new EditorView({
      parent,
      state: EditorState.create({
        doc: props.value,
        extensions: [
          basicSetup,
          syntaxHighlighting(highlight),
          language.current.of(languageOf(props.language)),
          editable.current.of([
            EditorState.readOnly.of(props.readOnly ?? false),
            EditorView.editable.of(!props.readOnly),
          ]),
          problems,
          EditorView.contentAttributes.of({ 'aria-label': props.ariaLabel, spellcheck: 'false' }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) latest.current.onChange(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = created;
    return () => {
      created.destroy();
      view.current = null;
    };
  }, []);

  // A value set from outside (a reveal, a reset to the live value): replace the text.
  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== props.value)
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: props.value } });
  }, [props.value]);

  useEffect(() => {
    view.current?.dispatch({ effects: language.current.reconfigure(languageOf(props.language)) });
  }, [props.language]);

  useEffect(() => {
    view.current?.dispatch({
      effects: editable.current.reconfigure([
        EditorState.readOnly.of(props.readOnly ?? false),
        EditorView.editable.of(!props.readOnly),
      ]),
    });
  }, [props.readOnly]);

  const diagnosticsKey = JSON.stringify(props.diagnostics ?? []);
  useEffect(() => {
    if (view.current) forceLinting(view.current);
  }, [diagnosticsKey]);

  return (
    <div
      ref={box}
      className={`code-editor ${props.invalid ? 'invalid' : ''}`}
      data-testid="code-editor"
      data-diagnostics={props.diagnostics?.length ?? 0}
    />
  );
}
