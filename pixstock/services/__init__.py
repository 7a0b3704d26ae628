"""Plain functions around outside systems: storage, imaging, faces, payments, mail."""
