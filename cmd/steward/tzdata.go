package main

// Embed the IANA time zone database so calendar invitations naming a zone
// (TZID=Europe/Berlin) are read correctly on machines without /usr/share/zoneinfo.
import _ "time/tzdata"
