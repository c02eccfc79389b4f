DROP TABLE update_state;
