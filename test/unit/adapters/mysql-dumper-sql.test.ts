import { describe, expect, it } from 'vitest';
import { withoutSchemaQualifier } from '../../../functions/adapters/mysql-dumper';

describe("the shard database's name in a view, trigger or routine", () => {
  it('is dropped where it qualifies an object, so the definition refers to the database it is restored into', () => {
    expect(withoutSchemaQualifier('SELECT p.id FROM `game`.`players` p JOIN game.scores s USING (id)', 'game')).toBe('SELECT p.id FROM `players` p JOIN scores s USING (id)');
  });

  it('stays inside strings, comments and other names, where it is data', () => {
    const body = "BEGIN -- reads game.players\n SET @host = 'game.example.com', @quoted = \"it's game.x\"; /* game.t */ SELECT * FROM endgame.t, `game_old`.t, `game`.t; END";
    expect(withoutSchemaQualifier(body, 'game')).toBe("BEGIN -- reads game.players\n SET @host = 'game.example.com', @quoted = \"it's game.x\"; /* game.t */ SELECT * FROM endgame.t, `game_old`.t, t; END");
  });
});
