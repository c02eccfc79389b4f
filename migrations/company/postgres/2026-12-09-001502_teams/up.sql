-- Teams of company users (issue 14, item 3). An admin (`teams.manage`)
-- creates, renames and deletes teams and sets each one's lead; a team lead
-- (`teams.manage_own`) adds and removes members of the teams they lead. A
-- user may belong to any number of teams. Membership will decide deployment
-- approvals later. No PHI: company users only.
CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    lead_user_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX teams_lead ON teams (lead_user_id);
CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id),
    user_id TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);
