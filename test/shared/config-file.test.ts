/**
 * Reading config, profile and rules files: only regular files under the size limit, never a device,
 * pipe or directory, and never blocking on a named pipe.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { CONFIG_FILE_LIMIT_BYTES, SourceFile, readConfigFile, validateAt } from '../../shared/kit/config-file.js';
import { isSwarmgateError } from '../../shared/kit/errors.js';
import { tempDir } from '../support/tmp.js';

const dir = tempDir('swg-config-file-');
afterAll(() => dir.remove());

function refusal(file: string, limit?: number): string {
  try {
    readConfigFile(file, limit === undefined ? {} : { limitBytes: limit });
  } catch (err) {
    if (isSwarmgateError(err)) return err.message;
    throw err;
  }
  throw new Error(`${file} was read`);
}

describe('readConfigFile', () => {
  it('reads a regular file', () => {
    const file = join(dir.path, 'ok.yaml');
    writeFileSync(file, 'a: 1\n');
    expect(readConfigFile(file)).toBe('a: 1\n');
  });

  it('refuses character devices without reading them', () => {
    expect(refusal('/dev/zero')).toBe('/dev/zero: not a regular file (character device)');
    expect(refusal('/dev/urandom')).toBe('/dev/urandom: not a regular file (character device)');
  });

  it('refuses a named pipe without blocking on it', () => {
    const fifo = join(dir.path, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    // No writer ever opens it: a blocking open would hang this test until its timeout.
    expect(refusal(fifo)).toBe(`${fifo}: not a regular file (named pipe)`);
  }, 5000);

  it('refuses a directory', () => {
    expect(refusal(dir.path)).toBe(`${dir.path}: not a regular file (directory)`);
  });

  it('refuses a file over the limit and names both sizes', () => {
    const file = join(dir.path, 'big.yaml');
    writeFileSync(file, Buffer.alloc(Math.round(5.2 * 1024 * 1024), 0x20));
    expect(CONFIG_FILE_LIMIT_BYTES).toBe(1024 * 1024);
    expect(refusal(file)).toBe(`${file}: 5.2 MiB exceeds the 1 MiB limit for config files`);
    const small = join(dir.path, 'small.yaml');
    writeFileSync(small, 'x'.repeat(2049));
    expect(refusal(small, 2048)).toBe(`${small}: 2049 bytes exceeds the 2 KiB limit for config files`);
  });

  it('says when a file does not exist', () => {
    const err = (() => {
      try {
        readConfigFile(join(dir.path, 'missing.yaml'));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isSwarmgateError(err, 'SWG_ERR_CONFIG_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain('missing.yaml: no such file');
  });

  it('SourceFile.read goes through the same check', () => {
    expect(() => SourceFile.read('/dev/zero')).toThrow('/dev/zero: not a regular file (character device)');
  });
});

/** The problems SourceFile.read reports for a file holding `text`, as `line:column message`. */
function syntaxProblems(name: string, text: string): string[] {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  const { source, problems } = SourceFile.read(file);
  expect(source).toBeUndefined();
  for (const p of problems) expect(p.file).toBe(file);
  return problems.map((p) => `${p.line}:${p.column} ${p.message}`);
}

interface SyntaxCase {
  readonly name: string;
  readonly text: string;
  /** Exactly the problems expected, as `line:column message-fragment`; one mistake, one problem. */
  readonly expect: readonly [string, string][];
}

const syntaxCases: SyntaxCase[] = [
  {
    name: 'unclosed flow sequence at the end of the file',
    text: 'gateway: { id: gw, site: s }\nbroken: [unclosed\n',
    expect: [['2:9', "unclosed '[' opened at line 2 column 9: add the closing ']'"]],
  },
  {
    name: 'unclosed flow sequence before more keys',
    text: 'a:\n  x: [1, 2\n  y: 3\nc: 4\n',
    expect: [['2:6', "unclosed '[' opened at line 2 column 6: add the closing ']'"]],
  },
  {
    name: 'unclosed flow mapping',
    text: 'connection: { host: h, port: 502\nprofile: p.yaml\n',
    expect: [['1:13', "unclosed '{' opened at line 1 column 13: add the closing '}'"]],
  },
  {
    name: 'unclosed flow mapping in a list item followed by more items: one problem, not its echo further down',
    text: 'devices:\n  - id: a\n    connection: { host: h, port: 502\n  - id: b\n    protocol: modbus-tcp\n    connection: { host: h, port: 503 }\n',
    expect: [['3:17', "unclosed '{' opened at line 3 column 17: add the closing '}'"]],
  },
  {
    name: 'tab used for indentation',
    text: 'gateway:\n  id: gw\n\tsite: s\n',
    expect: [['3:1', 'tab used for indentation']],
  },
  {
    name: 'unclosed double quote',
    text: 'gateway:\n  id: "gw\n  site: s\n',
    expect: [['2:7', 'unclosed quote " opened at line 2 column 7: add the closing "']],
  },
  {
    name: "unclosed single quote at the end of the file",
    text: "gateway:\n  id: gw\n  site: 's",
    expect: [['3:9', "unclosed quote ' opened at line 3 column 9: add the closing '"]],
  },
  {
    name: 'a key indented less than its siblings',
    text: 'gateway:\n    id: gw\n  site: s\n',
    expect: [['3:3', 'bad indentation']],
  },
  {
    name: 'a key indented deeper than its siblings',
    text: 'gateway:\n  id: gw\n    site: s\n',
    expect: [['3:5', 'bad indentation: line 3 is indented deeper than "id" on line 2']],
  },
  {
    name: 'a list item indented differently from the items before it',
    text: 'devices:\n  - id: a\n    protocol: x\n   - id: b\n',
    expect: [['4:4', 'bad indentation']],
  },
  {
    name: 'duplicate key',
    text: 'gateway:\n  id: gw\n  site: s\n  id: other\n',
    expect: [['4:3', 'duplicate key "id" (first at line 2 column 3)']],
  },
  {
    name: "missing space after ':'",
    text: 'gateway:\n  id:gw\n  site: s\n',
    expect: [['2:5', `missing space after ':' in "id:gw": write "id: gw"`]],
  },
  {
    name: "a stray closing bracket",
    text: 'points: [a, b]]\n',
    expect: [['1:15', "']' closes nothing"]],
  },
  {
    name: 'two documents',
    text: 'profile: a\nprotocol: modbus\n---\nprofile: b\nprotocol: modbus\n---\nprofile: c\n',
    expect: [['3:1', 'this file holds 3 YAML documents; a config or profile is one document (the second starts at line 3)']],
  },
];

describe('YAML syntax errors name the line and column of the mistake and say what to do', () => {
  it.each(syntaxCases)('$name', ({ text, expect: expected }) => {
    const problems = syntaxProblems('syntax.yaml', text);
    expect(problems, problems.join('\n')).toHaveLength(expected.length);
    expected.forEach(([at, fragment], i) => {
      expect(problems[i]).toMatch(new RegExp(`^${at} YAML syntax: `));
      expect(problems[i]).toContain(fragment);
    });
  });

  it('no message is the library text: every one is in plain words', () => {
    for (const { text } of syntaxCases) {
      for (const p of syntaxProblems('plain.yaml', text)) {
        expect(p).not.toMatch(/sufficiently indented|implicit key|compact mapping|parseAllDocuments|stream|Map keys must be unique/i);
      }
    }
  });
});

describe('YAML aliases', () => {
  it('an alias to no anchor is named as such, not as an alias bomb', () => {
    const { problems } = SourceFile.parse('a.yaml', 'a: 1\nb: *nope\n');
    expect(problems.map((p) => `${p.line}:${p.column} ${p.message}`)).toEqual(['2:4 YAML aliases: *nope refers to no anchor: define &nope on a value above it, or write the value out']);
  });
});

describe('validateAt', () => {
  it('where text was expected and YAML read a number or true/false, says what was written and to quote it', () => {
    const schema = Type.Object({ version: Type.String(), id: Type.String(), name: Type.String(), count: Type.String() });
    const { source } = SourceFile.parse('v.yaml', 'version: 1.10\nid: 0123\nname: true\ncount: 7\n');
    if (!source) throw new Error('parse failed');
    expect(validateAt(source, schema, source.value()).map((p) => `${p.line} ${p.path}: ${p.message}`)).toEqual([
      '1 version: expected string, got 1.1 (YAML reads 1.10 as a number: write "1.10", in quotes, for the text)',
      '2 id: expected string, got 123 (YAML reads 0123 as a number: write "0123", in quotes, for the text)',
      '3 name: expected string, got true (YAML reads true as a boolean: write "true", in quotes, for the text)',
      '4 count: expected string, got 7 (YAML reads 7 as a number: write "7", in quotes, for the text)',
    ]);
  });
});
