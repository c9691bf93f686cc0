/** The README's example, kept in step with it by this test. */
export const EXAMPLE = `# /etc/socx/config.yaml
listen:
  - 0.0.0.0:1080
  - "[::1]:1080"
users-file: USERS
users:
  alice: "$scrypt$ln=15,r=8,p=1$4AEmfCoNmPo0iw5hkJuRgQ$0cOVfYnI4RVqXQgKI/ml89omq+b0C16tjrxIT9MVlxg"
  bob: "correct horse battery staple"
handshake-timeout: 10s
connect-timeout: 5s
idle-timeout: 15m
bind: false
udp-idle-timeout: 2m
max-udp-associations: 8
advertise: 203.0.113.7
grace: 30s
`;
