import { sqliteTable, integer, text, blob } from 'drizzle-orm/sqlite-core';

export const users = sqliteTable('users', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  name: text('name').notNull(),
});

export const posts = sqliteTable('posts', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  userId: integer('user_id').notNull(),
  title: text('title').notNull(),
});

export const files = sqliteTable('files', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  data: blob('data', { mode: 'buffer' }),
  big: blob('big', { mode: 'bigint' }),
  meta: text('meta', { mode: 'json' }),
  at: integer('at', { mode: 'timestamp_ms' }),
});

export const DDL = [
  'CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL)',
  'CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, title TEXT NOT NULL)',
  'CREATE TABLE files (id INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB, big BLOB, meta TEXT, at INTEGER)',
];
