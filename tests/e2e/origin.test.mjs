import { test } from 'node:test'; test('todo', { todo: true });
