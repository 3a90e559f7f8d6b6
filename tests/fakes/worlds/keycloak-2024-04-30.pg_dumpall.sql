--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Drop databases (except postgres and template1)
--

DROP DATABASE service_db;




--
-- Drop roles
--

DROP ROLE postgres;
DROP ROLE service_account;
DROP ROLE standby;


--
-- Roles
--

CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'md5f8f0ca0fa5f4b37a89936c91cd575184';
CREATE ROLE service_account;
ALTER ROLE service_account WITH NOSUPERUSER INHERIT NOCREATEROLE CREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'md5322c9c198b255b16022899fe2cc4943f';
CREATE ROLE standby;
ALTER ROLE standby WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN REPLICATION NOBYPASSRLS PASSWORD 'md56e21279576e159ee7f1299c037f90d48';






\connect template1

--
-- PostgreSQL database dump
--

-- Dumped from database version 14.5 (Ubuntu 14.5-2.pgdg18.04+1)
-- Dumped by pg_dump version 14.5 (Ubuntu 14.5-2.pgdg18.04+1)

SET statement_timeout = 0;
SET lock_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

DROP DATABASE postgres;
--
-- Name: postgres; Type: DATABASE; Schema: -; Owner: postgres
--

CREATE DATABASE postgres WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE postgres OWNER TO postgres;

\connect postgres

SET statement_timeout = 0;

--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database dump
--

SET statement_timeout = 0;

--
-- Name: service_db; Type: DATABASE; Schema: -; Owner: service_account
--

CREATE DATABASE service_db WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE = 'en_US.utf-8';


ALTER DATABASE service_db OWNER TO service_account;

\connect service_db

SET statement_timeout = 0;
SET default_tablespace = '';

--
-- Name: realm; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.realm (
    id character varying(36) NOT NULL,
    name text,
    enabled text,
    ssl_required text,
    access_token_lifespan text
);


ALTER TABLE public.realm OWNER TO service_account;

--
-- Name: client; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.client (
    id character varying(36) NOT NULL,
    client_id text,
    realm_id text,
    enabled text,
    public_client text,
    secret text
);


ALTER TABLE public.client OWNER TO service_account;

--
-- Name: user_entity; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.user_entity (
    id character varying(36) NOT NULL,
    username text,
    email text,
    first_name text,
    last_name text,
    realm_id text,
    enabled text,
    created_timestamp text
);


ALTER TABLE public.user_entity OWNER TO service_account;

--
-- Name: credential; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.credential (
    id character varying(36) NOT NULL,
    user_id text,
    type text,
    secret_data text,
    credential_data text,
    created_date text
);


ALTER TABLE public.credential OWNER TO service_account;

--
-- Name: event_entity; Type: TABLE; Schema: public; Owner: service_account
--

CREATE TABLE public.event_entity (
    id character varying(36) NOT NULL,
    client_id text,
    details_json text,
    error text,
    ip_address text,
    realm_id text,
    session_id text,
    event_time text,
    type text,
    user_id text
);


ALTER TABLE public.event_entity OWNER TO service_account;

--
-- Data for Name: realm; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.realm (id, name, enabled, ssl_required, access_token_lifespan) FROM stdin;
master	master	t	external	60
shasta	shasta	t	none	300
\.


--
-- Data for Name: client; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.client (id, client_id, realm_id, enabled, public_client, secret) FROM stdin;
c1	shasta	shasta	t	f	\N
c2	admin-client	shasta	t	f	\N
c3	gatekeeper	shasta	t	f	\N
\.


--
-- Data for Name: user_entity; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.user_entity (id, username, email, first_name, last_name, realm_id, enabled, created_timestamp) FROM stdin;
u1	user0001	user1@example.com	First1	Last1	shasta	t	1600000001000
u2	user0002	user2@example.com	First2	Last2	shasta	t	1600000002000
u3	user0003	user3@example.com	First3	Last3	shasta	t	1600000003000
u4	user0004	user4@example.com	First4	Last4	shasta	t	1600000004000
u5	user0005	user5@example.com	First5	Last5	shasta	t	1600000005000
\.


--
-- Data for Name: credential; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.credential (id, user_id, type, secret_data, credential_data, created_date) FROM stdin;
cr1	u1	password	{"value":"h1"}	{"hashIterations":27500}	1600000000001
cr2	u2	password	{"value":"h2"}	{"hashIterations":27500}	1600000000002
cr3	u3	password	{"value":"h3"}	{"hashIterations":27500}	1600000000003
cr4	u4	password	{"value":"h4"}	{"hashIterations":27500}	1600000000004
cr5	u5	password	{"value":"h5"}	{"hashIterations":27500}	1600000000005
\.


--
-- Data for Name: event_entity; Type: TABLE DATA; Schema: public; Owner: service_account
--

COPY public.event_entity (id, client_id, details_json, error, ip_address, realm_id, session_id, event_time, type, user_id) FROM stdin;
e1	shasta	{}	\N	10.252.1.1	shasta	s1	1600000060000	LOGIN	u2
e2	shasta	{}	\N	10.252.1.2	shasta	s2	1600000120000	LOGIN	u3
e3	shasta	{}	\N	10.252.1.3	shasta	s3	1600000180000	LOGIN	u4
e4	shasta	{}	\N	10.252.1.4	shasta	s4	1600000240000	LOGIN	u5
e5	shasta	{}	\N	10.252.1.5	shasta	s5	1600000300000	LOGIN	u1
e6	shasta	{}	\N	10.252.1.6	shasta	s6	1600000360000	LOGIN	u2
e7	shasta	{}	\N	10.252.1.7	shasta	s7	1600000420000	LOGIN	u3
\.


--
-- Name: realm constraint_4a; Type: CONSTRAINT; Schema: public; Owner: service_account
--

ALTER TABLE ONLY public.realm
    ADD CONSTRAINT constraint_4a PRIMARY KEY (id);


--
-- PostgreSQL database dump complete
--

--
-- PostgreSQL database cluster dump complete
--

